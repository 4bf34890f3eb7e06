//! Robot automations: a robot's standing query, stored as validated
//! ([`crate::percolate::Query`]) and matched on every import ([`crate::percolate`]).

use std::collections::HashSet;

use destiny_sdk::models::{RobotAutomation, RobotAutomationIn};
use sqlx::Row;
use uuid::Uuid;

use super::{bind_ids, placeholders, uuid_at, Db};
use crate::error::ApiError;
use crate::lifecycle::PendingStatus;

fn not_found(id: Uuid) -> ApiError {
    super::not_found(AUTOMATION, id)
}

/// How a 404 names an automation.
const AUTOMATION: &str = "Robot automation";

fn duplicate(e: sqlx::Error, robot_id: Uuid) -> ApiError {
    match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict(format!(
            "Robot {robot_id} already has an automation with this query."
        )),
        other => other,
    }
}

/// The robot an automation names must exist: 422 (the body is at fault, not the path).
async fn robot_must_exist(db: &Db, robot_id: Uuid) -> Result<(), ApiError> {
    match db.robot(robot_id).await {
        Ok(_) => Ok(()),
        Err(ApiError::NotFound(_)) => Err(ApiError::Unprocessable(format!(
            "Robot with id {robot_id} does not exist."
        ))),
        Err(e) => Err(e),
    }
}

fn automation_of(row: &sqlx::any::AnyRow) -> Result<RobotAutomation, sqlx::Error> {
    let text: String = row.try_get("query")?;
    Ok(RobotAutomation {
        id: uuid_at(row, "id")?,
        robot_id: uuid_at(row, "robot_id")?,
        query: serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
    })
}

fn query_text(automation: &RobotAutomationIn) -> String {
    serde_json::Value::Object(automation.query.clone()).to_string()
}

impl Db {
    /// Stores a new automation (its query already validated).
    ///
    /// # Errors
    /// 422 for an unknown robot; 409 when the robot holds this query already; database
    /// errors.
    pub async fn create_automation(
        &self,
        automation: &RobotAutomationIn,
        now_us: i64,
    ) -> Result<RobotAutomation, ApiError> {
        robot_must_exist(self, automation.robot_id).await?;
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO robot_automations (id, robot_id, query, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id.to_string())
        .bind(automation.robot_id.to_string())
        .bind(query_text(automation))
        .bind(now_us)
        .execute(&mut *self.write_conn().await?)
        .await
        .map_err(|e| duplicate(e, automation.robot_id))?;
        Ok(RobotAutomation {
            robot_id: automation.robot_id,
            query: automation.query.clone(),
            id,
        })
    }

    /// Replaces an automation's robot and query.
    ///
    /// # Errors
    /// 404 for an unknown automation; otherwise as [`Db::create_automation`].
    pub async fn update_automation(
        &self,
        id: Uuid,
        automation: &RobotAutomationIn,
    ) -> Result<RobotAutomation, ApiError> {
        robot_must_exist(self, automation.robot_id).await?;
        let done = sqlx::query("UPDATE robot_automations SET robot_id = $1, query = $2 WHERE id = $3")
            .bind(automation.robot_id.to_string())
            .bind(query_text(automation))
            .bind(id.to_string())
            .execute(&mut *self.write_conn().await?)
            .await
            .map_err(|e| duplicate(e, automation.robot_id))?;
        if done.rows_affected() == 0 {
            return Err(not_found(id));
        }
        Ok(RobotAutomation {
            robot_id: automation.robot_id,
            query: automation.query.clone(),
            id,
        })
    }

    /// An automation by id.
    ///
    /// # Errors
    /// 404 when unknown; database errors.
    pub async fn automation(&self, id: Uuid) -> Result<RobotAutomation, ApiError> {
        let row = self
            .row_by_id(
                "SELECT id, robot_id, query FROM robot_automations WHERE id = $1",
                id,
                AUTOMATION,
            )
            .await?;
        Ok(automation_of(&row)?)
    }

    /// Every automation (of `robot` only, when given), oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn automations(&self, robot: Option<Uuid>) -> Result<Vec<RobotAutomation>, ApiError> {
        let query = sqlx::query(
            "SELECT id, robot_id, query FROM robot_automations \
             WHERE $1 IS NULL OR robot_id = $1 ORDER BY created_at, id",
        )
        .bind(robot.map(|r| r.to_string()));
        Ok(self.rows_of(query, automation_of).await?)
    }

    /// Which of `references` `robot` has an enhancement under way for (pending, leased,
    /// importing or indexing): an automation does not request another.
    ///
    /// # Errors
    /// Database errors.
    pub async fn under_way(
        &self,
        robot: Uuid,
        references: &[Uuid],
    ) -> Result<HashSet<Uuid>, ApiError> {
        let open: Vec<&str> = PendingStatus::ALL
            .iter()
            .filter(|s| !s.successors().is_empty())
            .map(|s| s.sql())
            .collect();
        let mut found = HashSet::new();
        for chunk in references.chunks(500) {
            let sql = format!(
                "SELECT DISTINCT reference_id FROM pending_enhancements \
                 WHERE robot_id = $1 AND status IN ({}) AND reference_id IN ({})",
                open.join(", "),
                placeholders(2, chunk.len())
            );
            let rows = bind_ids(sqlx::query(&sql).bind(robot.to_string()), chunk)
                .fetch_all(self.reader())
                .await?;
            for row in &rows {
                found.insert(uuid_at(row, "reference_id")?);
            }
        }
        Ok(found)
    }
}
