//! The shape every action shares, written once: the struct with its target, options and
//! session state; `new`; `.session(...)`; the option setters; `.await`.

/// Declares an action type.
///
/// ```text
/// action! {
///     /// Doc of the action.
///     pub struct Delete<'a> { filter: Document, many: bool }
///     options: DeleteOptions, delete_setters;
/// }
/// ```
///
/// makes `pub struct Delete<'a, S = ImplicitSession>` with the fields plus `target`, `options`
/// and `session`; `Delete::new(target, filter, many)`; `.session(&mut s)`, which moves it to
/// [`ExplicitSession`](crate::action::ExplicitSession); and the setters of the options type. A
/// document type parameter may follow the lifetime (`Find<'a, T>`). The `.await` is declared
/// with [`into_future!`] next to the action's `execute`.
///
/// An action that runs one operation says how to make it after its options, and gets its
/// `execute` and `.await` from here:
///
/// ```text
///     options: DeleteOptions, delete_setters;
///     runs: |t, this| -> DeleteResult { operation::Delete::new(/* from t and this */) }
/// ```
///
/// `t` is the action's [`Target`](crate::action::Target) and `this` the action (its fields, its
/// options); the block yields the operation, which runs in the action's session.
macro_rules! action {
    (
        $(#[$meta:meta])*
        pub struct $name:ident<'a> {
            $($field:ident : $fty:ty),* $(,)?
        }
        options: $opts:ident, $setters:ident;
        runs: |$t:ident, $this:ident| -> $out:ty $op:block
    ) => {
        action! {
            $(#[$meta])*
            pub struct $name<'a> { $($field: $fty),* }
            options: $opts, $setters;
        }

        impl<'a, S: $crate::action::SessionMode<'a>> $name<'a, S> {
            async fn execute(self) -> $crate::error::Result<$out> {
                let $this = self;
                let $t = $this.target;
                let op = $op;
                $t.execute(op, $this.session.into_session()).await
            }
        }
        into_future!(impl<'a, S> $name<'a, S> => $out where S: $crate::action::SessionMode<'a>);
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident<'a $(, $t:ident)?> {
            $($field:ident : $fty:ty),* $(,)?
        }
        options: $opts:ident, $setters:ident;
    ) => {
        $(#[$meta])*
        #[must_use = "an action does nothing until it is awaited"]
        pub struct $name<'a, $($t,)? S = $crate::action::ImplicitSession> {
            target: $crate::action::Target<'a>,
            options: $crate::options::$opts,
            session: S,
            $($field: $fty,)*
            $(_type: std::marker::PhantomData<fn() -> $t>,)?
        }

        impl<'a, $($t)?> $name<'a, $($t,)? $crate::action::ImplicitSession> {
            #[allow(clippy::too_many_arguments)]
            pub(crate) fn new(target: $crate::action::Target<'a>, $($field: $fty),*) -> Self {
                Self {
                    target,
                    options: Default::default(),
                    session: $crate::action::ImplicitSession,
                    $($field,)*
                    $(_type: std::marker::PhantomData::<fn() -> $t>,)?
                }
            }

            /// Runs the operation in `session`, an explicit session from
            /// [`Client::start_session`](crate::Client::start_session).
            pub fn session(
                self,
                session: &'a mut $crate::ClientSession,
            ) -> $name<'a, $($t,)? $crate::action::ExplicitSession<'a>> {
                $name {
                    target: self.target.for_session(session),
                    options: self.options,
                    session: $crate::action::ExplicitSession(session),
                    $($field: self.$field,)*
                    $(_type: std::marker::PhantomData::<fn() -> $t>,)?
                }
            }
        }

        impl<'a, $($t,)? S> $name<'a, $($t,)? S> {
            $crate::options::$setters::setters!();

            /// `timeoutMS` for this operation: selection, check-out, the round trips and
            /// retries together (and each `getMore` of a cursor it opens). Overrides the
            /// collection's, database's and client's; zero means no limit.
            pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
                self.target.set_timeout(timeout);
                self
            }
        }

        #[cfg(feature = "sync")]
        impl<'a, $($t,)? S> $crate::sync::ActionClient for $name<'a, $($t,)? S> {
            fn action_client(&self) -> $crate::Client {
                self.target.client().clone()
            }
        }

        impl<'a, $($t,)? S> $crate::action::private::Sealed for $name<'a, $($t,)? S> {}
        impl<'a, $($t,)? S> $crate::action::Action for $name<'a, $($t,)? S>
        where
            Self: std::future::IntoFuture,
        {
        }
    };
}

/// Declares an action on a handle other than a [`Target`](crate::action::Target): a GridFS
/// bucket, a session.
///
/// ```text
/// handle_action! {
///     /// Doc of the action.
///     pub struct OpenDownloadStreamByName<'a> { bucket: &'a GridFsBucket, filename: String }
///     options: GridFsDownloadByNameOptions, gridfs_download_by_name_setters;
///     /// Doc of its `timeout`.
///     timeout;
/// }
/// ```
///
/// makes the struct with the fields, `options` (when named) and `timeout`;
/// `OpenDownloadStreamByName::new(bucket, filename)`; the setters of the options type and
/// `.timeout(...)`, with the doc given; and the [`Action`](crate::action::Action) impls, its
/// client (for `.run()`) the handle's, the first field's. The `.await` is declared with
/// [`into_future!`] next to the action's `execute`.
macro_rules! handle_action {
    (
        $(#[$meta:meta])*
        pub struct $name:ident<'a> { $handle:ident: $hty:ty $(, $field:ident: $fty:ty)* $(,)? }
        $(options: $opts:ident, $setters:ident;)?
        $(#[$tmeta:meta])*
        timeout;
    ) => {
        $(#[$meta])*
        #[must_use = "an action does nothing until it is awaited"]
        pub struct $name<'a> {
            $handle: $hty,
            $($field: $fty,)*
            $(options: $crate::options::$opts,)?
            timeout: Option<std::time::Duration>,
        }

        impl<'a> $name<'a> {
            fn new($handle: $hty, $($field: $fty),*) -> Self {
                Self {
                    $handle,
                    $($field,)*
                    $(options: $crate::options::$opts::default(),)?
                    timeout: None,
                }
            }

            $($crate::options::$setters::setters!();)?

            $(#[$tmeta])*
            pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
                self.timeout = Some(timeout);
                self
            }
        }

        #[cfg(feature = "sync")]
        impl $crate::sync::ActionClient for $name<'_> {
            fn action_client(&self) -> $crate::Client {
                $crate::sync::ActionClient::action_client(&*self.$handle)
            }
        }

        impl $crate::action::private::Sealed for $name<'_> {}
        impl $crate::action::Action for $name<'_> {}
    };
}

/// `.await` runs the action's `execute`:
/// `into_future!(impl<'a, S> Delete<'a, S> => DeleteResult where S: SessionMode<'a>);`
///
/// With the `sync` feature it also gives the action `.run()`, the blocking `.await` (the action
/// type must implement [`ActionClient`](crate::sync::ActionClient), which `action!` does).
macro_rules! into_future {
    (impl<'a $(, $g:ident)*> $ty:ty => $out:ty $(where $($w:tt)*)?) => {
        impl<'a $(, $g)*> std::future::IntoFuture for $ty $(where $($w)*)? {
            type Output = $crate::error::Result<$out>;
            type IntoFuture = futures_core::future::BoxFuture<'a, Self::Output>;

            fn into_future(self) -> Self::IntoFuture {
                $crate::boxed::boxed(move || self.execute())
            }
        }

        #[cfg(feature = "sync")]
        impl<'a $(, $g)*> $ty $(where $($w)*)? {
            /// Runs the action to completion, blocking the calling thread: the `.await` of the
            /// blocking API ([`mongo_x509::sync`](crate::sync)), on the runtime of the
            /// [`sync::Client`](crate::sync::Client) the handle comes from. It returns what
            /// `.await` returns, except that a cursor, change stream, session or GridFS stream
            /// comes as its blocking counterpart in [`crate::sync`] (see
            /// [`IntoSync`](crate::sync::IntoSync)).
            ///
            /// An action of a handle made by the async API (not through `sync::Client`) fails
            /// with [`ErrorKind::InvalidArgument`](crate::error::ErrorKind::InvalidArgument):
            /// `.await` it instead.
            pub fn run(self) -> $crate::error::Result<<$out as $crate::sync::IntoSync>::Sync>
            where
                $out: $crate::sync::IntoSync,
            {
                $crate::sync::run_action(self)
            }
        }
    };
}
