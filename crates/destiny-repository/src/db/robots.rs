//! Registered robots: their names, owners and HMAC secrets.

use std::collections::BTreeSet;

use destiny_sdk::models::{ProvisionedRobot, Robot, RobotEntitlement, RobotIn};
use destiny_sdk::secret::Secret;
use sqlx::Row;
use uuid::Uuid;

use super::{uuid_at, Db};
use crate::error::ApiError;
use crate::text::{self, MAX_ROBOT_NAME_CHARS};

fn not_found(id: Uuid) -> ApiError {
    super::not_found(ROBOT, id)
}

/// How a 404 names a robot.
const ROBOT: &str = "Robot";

fn duplicate_name(e: sqlx::Error, name: &str) -> ApiError {
    match ApiError::from(e) {
        ApiError::Conflict(_) => {
            ApiError::Conflict(format!("A robot named {name:?} already exists."))
        }
        other => other,
    }
}

/// A robot's entitlements as stored: a JSON array of their names, in declared order.
fn entitlements_text(entitlements: &BTreeSet<RobotEntitlement>) -> String {
    serde_json::to_string(entitlements).expect("a set of enum names serialises")
}

fn entitlements_of(row: &sqlx::any::AnyRow) -> Result<BTreeSet<RobotEntitlement>, sqlx::Error> {
    let text: String = row.try_get("entitlements")?;
    serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// The robot's text fields as the text policy allows them ([`crate::text`]): no NUL, and
/// the name (`UNIQUE`, indexed) at most [`MAX_ROBOT_NAME_CHARS`] characters.
fn storable(robot: &RobotIn) -> Result<(), ApiError> {
    text::body_field(&["name"], &robot.name, Some(MAX_ROBOT_NAME_CHARS))?;
    text::body_field(&["description"], &robot.description, None)?;
    text::body_field(&["owner"], &robot.owner, None)
}

fn robot_of(row: &sqlx::any::AnyRow) -> Result<Robot, sqlx::Error> {
    Ok(Robot {
        id: uuid_at(row, "id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        owner: row.try_get("owner")?,
        entitlements: entitlements_of(row)?,
    })
}

impl Db {
    /// Registers a robot with a fresh secret.
    ///
    /// # Errors
    /// 422 when a field cannot be stored ([`crate::text`]); 409 when the name is taken;
    /// database errors.
    pub async fn create_robot(
        &self,
        robot: &RobotIn,
        now_us: i64,
    ) -> Result<ProvisionedRobot, ApiError> {
        storable(robot)?;
        let id = Uuid::new_v4();
        let secret = crate::random::secret().map_err(|e| ApiError::Internal(e.to_string()))?;
        sqlx::query(
            "INSERT INTO robots \
             (id, name, description, owner, client_secret, created_at, entitlements) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.to_string())
        .bind(&robot.name)
        .bind(&robot.description)
        .bind(&robot.owner)
        .bind(&secret)
        .bind(now_us)
        .bind(entitlements_text(&robot.entitlements))
        .execute(&mut *self.write_conn().await?)
        .await
        .map_err(|e| duplicate_name(e, &robot.name))?;
        Ok(ProvisionedRobot {
            name: robot.name.clone(),
            description: robot.description.clone(),
            owner: robot.owner.clone(),
            entitlements: robot.entitlements.clone(),
            id,
            client_secret: secret,
        })
    }

    /// A robot by id.
    ///
    /// # Errors
    /// 404 when unknown; database errors.
    pub async fn robot(&self, id: Uuid) -> Result<Robot, ApiError> {
        let row = self
            .row_by_id(
                "SELECT id, name, description, owner, entitlements FROM robots WHERE id = $1",
                id,
                ROBOT,
            )
            .await?;
        Ok(robot_of(&row)?)
    }

    /// Every robot, by name.
    ///
    /// # Errors
    /// Database errors.
    pub async fn robots(&self) -> Result<Vec<Robot>, ApiError> {
        let query =
            sqlx::query("SELECT id, name, description, owner, entitlements FROM robots ORDER BY name");
        Ok(self.rows_of(query, robot_of).await?)
    }

    /// Replaces a robot's name, description and owner, and its entitlements when
    /// `entitlements` is given (`None`: the body did not name them, and they are kept, so a
    /// client that cannot name them, such as SDK 0.7.4, does not revoke them).
    ///
    /// # Errors
    /// 422 when a field cannot be stored ([`crate::text`]); 404 when unknown; 409 when the
    /// new name is taken.
    pub async fn update_robot(
        &self,
        id: Uuid,
        robot: &RobotIn,
        entitlements: Option<&BTreeSet<RobotEntitlement>>,
    ) -> Result<Robot, ApiError> {
        storable(robot)?;
        let done = sqlx::query(
            "UPDATE robots SET name = $1, description = $2, owner = $3, \
             entitlements = COALESCE($4, entitlements) WHERE id = $5",
        )
        .bind(&robot.name)
        .bind(&robot.description)
        .bind(&robot.owner)
        .bind(entitlements.map(entitlements_text))
        .bind(id.to_string())
        .execute(&mut *self.write_conn().await?)
        .await
        .map_err(|e| duplicate_name(e, &robot.name))?;
        if done.rows_affected() == 0 {
            return Err(not_found(id));
        }
        self.robot(id).await
    }

    /// The entitlements a robot holds now (none for an unknown robot).
    ///
    /// # Errors
    /// Database errors.
    pub async fn robot_entitlements(
        &self,
        id: Uuid,
    ) -> Result<BTreeSet<RobotEntitlement>, ApiError> {
        let row = sqlx::query("SELECT entitlements FROM robots WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?;
        Ok(row.as_ref().map(entitlements_of).transpose()?.unwrap_or_default())
    }

    /// Gives a robot a new secret; the old one stops working at once.
    ///
    /// # Errors
    /// 404 when unknown.
    pub async fn cycle_robot_secret(&self, id: Uuid) -> Result<ProvisionedRobot, ApiError> {
        let secret = crate::random::secret().map_err(|e| ApiError::Internal(e.to_string()))?;
        let done = sqlx::query("UPDATE robots SET client_secret = $1 WHERE id = $2")
            .bind(&secret)
            .bind(id.to_string())
            .execute(&mut *self.write_conn().await?)
            .await?;
        if done.rows_affected() == 0 {
            return Err(not_found(id));
        }
        let robot = self.robot(id).await?;
        Ok(ProvisionedRobot {
            name: robot.name,
            description: robot.description,
            owner: robot.owner,
            entitlements: robot.entitlements,
            id,
            client_secret: secret,
        })
    }

    /// The HMAC secret of a robot, `None` when there is no such robot.
    ///
    /// # Errors
    /// Database errors.
    pub async fn robot_secret(&self, id: Uuid) -> Result<Option<Secret>, sqlx::Error> {
        let row = sqlx::query("SELECT client_secret FROM robots WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| r.try_get::<String, _>(0).map(Secret::new))
            .transpose()
    }
}
