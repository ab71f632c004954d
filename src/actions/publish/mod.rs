//! `publish`: send the event to a named broker connection (`brokers:`) as a
//! message, through the same durable delivery as `forward`.
//!
//! Each broker kind is a [`connector::Connector`] in its own module.

// The connectors are wired into the action and delivery in the next steps.
#![allow(dead_code)]

pub(crate) mod amqp;
pub(crate) mod connector;
mod link;
pub(crate) mod mqtt;
pub(crate) mod redis;
#[cfg(test)]
mod test_support;
