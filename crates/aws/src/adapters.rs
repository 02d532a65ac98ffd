//! The AWS adapters that only the functions need: assets on S3 and run
//! events on EventBridge.

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use greenlight_core::ports::{BlobError, BlobStore};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Assets in an S3 bucket, under the same keys as the local files.
pub struct S3Blobs {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Blobs {
    pub fn new(client: aws_sdk_s3::Client, bucket: &str) -> S3Blobs {
        S3Blobs {
            client,
            bucket: bucket.to_string(),
        }
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| BlobError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<(String, Vec<u8>)>, BlobError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let ct = out
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| BlobError::Unavailable(e.to_string()))?
                    .into_bytes()
                    .to_vec();
                Ok(Some((ct, bytes)))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(BlobError::Unavailable(DisplayErrorContext(&e).to_string())),
        }
    }
}

/// Publishes run events to the Greenlight event bus: `source` `greenlight`,
/// one detail-type per event type (`workflow_run.failed`, …).
pub struct EventPublisher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

pub const EVENT_SOURCE: &str = "greenlight";

impl EventPublisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: &str) -> EventPublisher {
        EventPublisher {
            client,
            bus: bus.to_string(),
        }
    }

    /// Publishes one stored event item (`PK` `RUN#<run>`, `seq`, `type`, `at`, `data`).
    pub async fn publish(&self, item: &HashMap<String, Value>) -> anyhow::Result<()> {
        let text = |k: &str| {
            item.get(k)
                .and_then(Value::as_str)
                .with_context(|| format!("the event item has no `{k}`"))
        };
        let run_id = text("PK")?.trim_start_matches("RUN#").to_string();
        let kind = text("type")?.to_string();
        let data: Value = serde_json::from_str(text("data")?).context("the event's data is not JSON")?;
        let seq = item
            .get("seq")
            .and_then(Value::as_u64)
            .context("the event item has no `seq`")?;
        let detail = json!({"run_id": run_id, "seq": seq, "type": kind, "at": text("at")?, "data": data});
        let out = self
            .client
            .put_events()
            .entries(
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(EVENT_SOURCE)
                    .detail_type(&kind)
                    .detail(detail.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_eventbridge::error::DisplayErrorContext(&e)))?;
        anyhow::ensure!(
            out.failed_entry_count() == 0,
            "EventBridge refused the event: {:?}",
            out.entries()
        );
        Ok(())
    }
}
