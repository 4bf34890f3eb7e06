//! Registered robots: their names, owners and HMAC secrets.

use destiny_sdk::models::{ProvisionedRobot, Robot, RobotIn};
use destiny_sdk::secret::Secret;
use sqlx::Row;
use uuid::Uuid;

use super::{uuid_at, Db};
use crate::error::ApiError;
use crate::text::{self, MAX_ROBOT_NAME_CHARS};

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("Robot with id {id} does not exist."))
}

fn duplicate_name(e: sqlx::Error, name: &str) -> ApiError {
    match ApiError::from(e) {
        ApiError::Conflict(_) => {
            ApiError::Conflict(format!("A robot named {name:?} already exists."))
        }
        other => other,
    }
}

/// The refusal of a robot body that grants entitlements: they are not stored yet, and
/// dropping them silently would register a robot with fewer rights than asked for.
fn entitlements_not_granted(robot: &RobotIn) -> Result<(), ApiError> {
    if robot.entitlements.is_empty() {
        return Ok(());
    }
    Err(ApiError::Validation {
        loc: vec!["body".into(), "entitlements".into()],
        msg: "this repository does not grant entitlements yet".into(),
        input: robot
            .entitlements
            .iter()
            .map(|e| serde_json::Value::from(e.as_str()))
            .collect(),
    })
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
        // Entitlements are not stored yet; the admin routes refuse to grant any.
        entitlements: Default::default(),
    })
}

impl Db {
    /// Registers a robot with a fresh secret.
    ///
    /// # Errors
    /// 422 when it asks for entitlements (not granted yet) or a field cannot be stored
    /// ([`crate::text`]); 409 when the name is taken; database errors.
    pub async fn create_robot(
        &self,
        robot: &RobotIn,
        now_us: i64,
    ) -> Result<ProvisionedRobot, ApiError> {
        entitlements_not_granted(robot)?;
        storable(robot)?;
        let id = Uuid::new_v4();
        let secret = crate::random::secret().map_err(|e| ApiError::Internal(e.to_string()))?;
        sqlx::query(
            "INSERT INTO robots (id, name, description, owner, client_secret, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.to_string())
        .bind(&robot.name)
        .bind(&robot.description)
        .bind(&robot.owner)
        .bind(&secret)
        .bind(now_us)
        .execute(self.writer())
        .await
        .map_err(|e| duplicate_name(e, &robot.name))?;
        Ok(ProvisionedRobot {
            name: robot.name.clone(),
            description: robot.description.clone(),
            owner: robot.owner.clone(),
            entitlements: Default::default(),
            id,
            client_secret: secret,
        })
    }

    /// A robot by id.
    ///
    /// # Errors
    /// 404 when unknown; database errors.
    pub async fn robot(&self, id: Uuid) -> Result<Robot, ApiError> {
        let row = sqlx::query("SELECT id, name, description, owner FROM robots WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| not_found(id))?;
        Ok(robot_of(&row)?)
    }

    /// Every robot, by name.
    ///
    /// # Errors
    /// Database errors.
    pub async fn robots(&self) -> Result<Vec<Robot>, ApiError> {
        let rows = sqlx::query("SELECT id, name, description, owner FROM robots ORDER BY name")
            .fetch_all(self.reader())
            .await?;
        Ok(rows.iter().map(robot_of).collect::<Result<_, _>>()?)
    }

    /// Replaces a robot's name, description and owner.
    ///
    /// # Errors
    /// 422 when it asks for entitlements (not granted yet) or a field cannot be stored
    /// ([`crate::text`]); 404 when unknown; 409 when the new name is taken.
    pub async fn update_robot(&self, id: Uuid, robot: &RobotIn) -> Result<Robot, ApiError> {
        entitlements_not_granted(robot)?;
        storable(robot)?;
        let done =
            sqlx::query("UPDATE robots SET name = $1, description = $2, owner = $3 WHERE id = $4")
                .bind(&robot.name)
                .bind(&robot.description)
                .bind(&robot.owner)
                .bind(id.to_string())
                .execute(self.writer())
                .await
                .map_err(|e| duplicate_name(e, &robot.name))?;
        if done.rows_affected() == 0 {
            return Err(not_found(id));
        }
        self.robot(id).await
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
            .execute(self.writer())
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
