//! Starting the delivery engine on the shared queue: the JetStream mode of
//! [`Delivery::start`], in which this replica's scheduler is fed by the
//! work stream's consumers instead of its own acceptances.

use std::sync::Arc;

use super::JetStreamSettings;
use super::JetStreamStore;
use crate::delivery::scheduler::{Scheduler, SchedulerSettings};
use crate::delivery::store::{Store, StoreError};
use crate::delivery::{prune_loop, Delivery, DeliverySettings, Running};

impl Delivery {
    /// Connects to JetStream (failing when no server answers), then starts
    /// the scheduler with the store's leases and the feed into it.
    pub(in crate::delivery) async fn start_jetstream(
        &self,
        settings: &DeliverySettings,
        shared: &JetStreamSettings,
    ) -> Result<(), StoreError> {
        let store = Arc::new(JetStreamStore::open(shared).await?);
        let scheduler = Scheduler::spawn(
            self.inner.senders.clone(),
            self.inner.store.clone(),
            self.inner.memory.clone(),
            self.inner.bodies.clone(),
            SchedulerSettings {
                concurrency: settings.concurrency,
                breaker: settings.breaker,
                leases: Some(store.leases.clone()),
            },
        );
        let running = Running {
            scheduler: scheduler.clone(),
            data_dir: settings.data_dir.clone(),
            retention: settings.retention.clone(),
            fed: true,
        };
        if self.inner.running.set(running).is_err() {
            return Err(StoreError::Io("delivery was already started".into()));
        }
        {
            let _guard = self.inner.opening.lock().await;
            let as_store: Arc<dyn Store> = store.clone();
            if self.inner.store.set(as_store.clone()).is_err() {
                return Err(StoreError::Io("a delivery store is already open".into()));
            }
            let pruner = tokio::spawn(prune_loop(as_store, settings.retention.clone()));
            *self.inner.pruner.lock().unwrap_or_else(|p| p.into_inner()) = Some(pruner);
        }
        store.start_feed(scheduler).await
    }
}
