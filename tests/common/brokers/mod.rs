//! Real Redis, Mosquitto and RabbitMQ servers for the publish tests, each
//! on a free loopback port with its files in a temporary directory, killed
//! when dropped and restartable on the same port (to show reconnection).
//!
//! Shared by the integration tests (`#[path = "common/brokers/mod.rs"]`)
//! and by the connectors' own tests in the library, which include this
//! directory by path too: the connectors are crate-private, and one copy
//! of these helpers beats two.
#![allow(dead_code, unreachable_pub)]

pub mod mosquitto;
pub mod rabbitmq;
pub mod redis;

#[path = "../servers.rs"]
mod servers;
