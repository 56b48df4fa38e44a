//! The target org's deploy queue (Tooling `DeployRequest`, InProgress then Pending, oldest
//! first): Salesforce runs one deploy per org at a time, so a teammate's deploy, a CI run or a
//! change set makes a job wait. The jobs pane and `backflow jobs` show each env's queue, and a
//! job whose deploy is queued says which deploy it waits behind.

use crate::engine::jobs::JobCtx;
use crate::engine::{EngineError, Workspace};
use crate::salesforce::{DeployRequestInfo, SalesforceClient};
use serde::Serialize;
use std::time::Duration;

/// One deploy running or waiting in an org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuedDeploy {
    pub id: String,
    /// InProgress or Pending.
    pub status: String,
    pub created: String,
    /// The Salesforce user id that started it.
    pub created_by: String,
    pub check_only: bool,
}

impl From<DeployRequestInfo> for QueuedDeploy {
    fn from(d: DeployRequestInfo) -> Self {
        QueuedDeploy {
            id: d.id,
            status: d.status,
            created: d.created_date,
            created_by: d.created_by,
            check_only: d.check_only,
        }
    }
}

impl QueuedDeploy {
    pub fn describe(&self) -> String {
        format!(
            "{} {}{} (started {} by user {})",
            self.id,
            self.status,
            if self.check_only { ", check only" } else { "" },
            self.created,
            self.created_by
        )
    }
}

/// An env's org queue, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvQueue {
    pub env: String,
    pub deploys: Vec<QueuedDeploy>,
    pub error: Option<String>,
}

const TIMEOUT: Duration = Duration::from_secs(20);

/// The deploy queue of `env`'s org.
pub async fn env_queue(ws: &Workspace, env: &str) -> EnvQueue {
    let read = async {
        let client = crate::engine::connect::client_for(ws, env).await?;
        client
            .deploy_queue()
            .await
            .map_err(EngineError::from)
            .map(|d| d.into_iter().map(QueuedDeploy::from).collect::<Vec<_>>())
    };
    let (deploys, error) = match tokio::time::timeout(TIMEOUT, read).await {
        Ok(Ok(d)) => (d, None),
        Ok(Err(e)) => (vec![], Some(e.to_string())),
        Err(_) => (vec![], Some("the org did not answer in time".into())),
    };
    EnvQueue {
        env: env.to_string(),
        deploys,
        error,
    }
}

/// The queues of every env with an org, read concurrently.
pub async fn all(ws: &Workspace) -> Vec<EnvQueue> {
    let envs: Vec<String> = ws
        .config
        .pipeline
        .envs()
        .iter()
        .filter(|e| e.org.is_some())
        .map(|e| e.name.clone())
        .collect();
    futures_util::future::join_all(envs.iter().map(|e| env_queue(ws, e))).await
}

/// The deploys ahead of `own` in the org's queue (those created before it that are still
/// running or waiting); empty when `own` runs or the queue cannot be read.
pub async fn ahead_of(client: &SalesforceClient, own: &str) -> Vec<QueuedDeploy> {
    let Ok(queue) = client.deploy_queue().await else {
        return vec![];
    };
    let Some(at) = queue.iter().position(|d| d.id == own) else {
        return vec![];
    };
    if queue[at].status == "InProgress" {
        return vec![];
    }
    // The queue lists the running deploy, then the waiting ones oldest first.
    queue.into_iter().take(at).map(QueuedDeploy::from).collect()
}

/// Says in the job's log when its deploy `own` waits behind others in the org.
pub async fn announce(ctx: &JobCtx, client: &SalesforceClient, own: &str) {
    let ahead = ahead_of(client, own).await;
    if let Some(first) = ahead.first() {
        ctx.log(format!(
            "waiting behind deploy {} ({} ahead in the org's queue): {}",
            first.id,
            ahead.len(),
            ahead
                .iter()
                .map(QueuedDeploy::describe)
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
}
