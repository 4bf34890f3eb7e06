//! HMAC request signing and verification (spec §1). Work in progress.

pub mod pyfloat;
mod signature;

pub use signature::{
    create_signature, signature_headers, HexSignature, SigningKey, X_CLIENT_ID,
    X_REQUEST_TIMESTAMP,
};
