//! The shape every action shares: option setters and `.await`.

/// Setters for option fields, plus `with_options`.
macro_rules! setters {
    ($opts:ty; $($(#[$doc:meta])* $name:ident: $t:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $t) -> Self {
                self.options.$name = Some(value);
                self
            }
        )*
        /// Sets all the options at once, replacing those set before.
        pub fn with_options(mut self, options: impl Into<Option<$opts>>) -> Self {
            self.options = options.into().unwrap_or_default();
            self
        }
    };
}

/// `.await` runs the action.
macro_rules! into_future {
    ($name:ident<$lt:lifetime $(, $t:ident: $($bound:ident)+)?> => $out:ty) => {
        impl<$lt $(, $t: $($bound +)+ $lt)?> std::future::IntoFuture for $name<$lt $(, $t)?> {
            type Output = $crate::error::Result<$out>;
            type IntoFuture = futures_core::future::BoxFuture<$lt, $crate::error::Result<$out>>;
            fn into_future(self) -> Self::IntoFuture {
                Box::pin(self.execute())
            }
        }
    };
}
