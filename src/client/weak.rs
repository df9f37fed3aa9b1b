//! [`WeakClient`]: a handle for background work that must end with the client, such as a
//! dropped cursor's `killCursors`.

use std::sync::{Arc, Weak};

use super::{Client, ClientInner};

/// A handle that does not keep the client alive: once the last [`Client`] is dropped,
/// [`upgrade`](Self::upgrade) returns `None`.
#[derive(Clone)]
pub(crate) struct WeakClient {
    inner: Weak<ClientInner>,
}

impl Client {
    /// A handle that does not keep this client alive.
    pub(crate) fn downgrade(&self) -> WeakClient {
        WeakClient {
            inner: Arc::downgrade(&self.inner),
        }
    }
}

impl WeakClient {
    /// The client, while a [`Client`] handle to it still exists somewhere.
    pub(crate) fn upgrade(&self) -> Option<Client> {
        self.inner.upgrade().map(|inner| Client { inner })
    }
}

#[cfg(test)]
mod tests {
    use crate::options::{ClientOptions, ServerAddress};
    use crate::Client;

    #[test]
    fn a_weak_client_ends_with_the_last_client() {
        let options = ClientOptions::builder()
            .hosts(vec![ServerAddress::Tcp {
                host: "localhost".into(),
                port: Some(1),
            }])
            .build();
        let client = Client::with_options(options).unwrap();
        let clone = client.clone();
        let weak = client.downgrade();
        assert!(weak.upgrade().is_some_and(|c| c.is_same(&client)));
        drop(client);
        assert!(weak.upgrade().is_some(), "a clone is still alive");
        drop(clone);
        assert!(weak.upgrade().is_none());
    }
}
