//! [`text_impls!`]: the impls the models' text newtypes (`struct Name(String)`, whose
//! text is what is written) share.

/// Implements, for a `struct $name(String)`, `as_str` (with the doc given) and any of
/// `Debug` (the text, quoted), `Display` (the text) and `Deserialize` (a string, through
/// the type's `FromStr`, whose error becomes the serde error).
macro_rules! text_impls {
    ($name:ident, $as_str_doc:literal, $($part:ident)*) => {
        impl $name {
            #[doc = $as_str_doc]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        $($crate::models::text::text_impls!(@$part $name);)*
    };
    (@Debug $name:ident) => {
        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Debug::fmt(&self.0, f)
            }
        }
    };
    (@Display $name:ident) => {
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
    (@Deserialize $name:ident) => {
        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<str> as ::serde::Deserialize>::deserialize(de)?;
                text.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use text_impls;
