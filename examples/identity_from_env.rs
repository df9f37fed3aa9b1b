//! Connects with a client identity kept out of the file system: the certificate and key go to
//! `TlsOptions::cert_key_data` as bytes (PEM or PKCS#12, from a secret store, a file descriptor,
//! or, as here, an environment variable holding PEM text).
//!
//! ```sh
//! MONGODB_HOST=localhost:27017 MONGODB_CA_FILE=ca.pem \
//! MONGODB_CLIENT_PEM="$(cat client.pem)" MONGODB_KEY_PASSWORD=secret \
//!   cargo run --example identity_from_env
//! ```

use mongo_x509::bson::doc;
use mongo_x509::error::{Error, Result};
use mongo_x509::options::{
    AuthMechanism, ClientOptions, Credential, ServerAddress, Tls, TlsOptions,
};
use mongo_x509::Client;

fn env(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| Error::invalid_argument(format!("set {name}")))
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let mut tls = TlsOptions::builder()
        .ca_file_path(env("MONGODB_CA_FILE")?)
        .cert_key_data(env("MONGODB_CLIENT_PEM")?.into_bytes())
        .build();
    // The password, like the key bytes, is zeroized once the client has decrypted the key.
    tls.tls_certificate_key_file_password = std::env::var("MONGODB_KEY_PASSWORD")
        .ok()
        .map(String::into_bytes);
    let options = ClientOptions::builder()
        .hosts(vec![ServerAddress::parse(&env("MONGODB_HOST")?)?])
        .credential(
            Credential::builder()
                .mechanism(AuthMechanism::MongoDbX509)
                .build(),
        )
        .tls(Tls::Enabled(tls))
        .build();
    let client = Client::with_options(options)?;
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await?;
    println!(
        "connected as {} with {}",
        client.client_subject().as_deref().unwrap_or("?"),
        client.tls_backend_name().unwrap_or("?")
    );
    Ok(())
}
