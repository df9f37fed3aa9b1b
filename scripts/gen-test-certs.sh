#!/usr/bin/env bash
# Makes every certificate and key the tests need, with the openssl CLI, into OUTDIR
# (default: target/test-certs). Nothing here is committed, so nothing in the repo expires.
#
# Usage: scripts/gen-test-certs.sh [OUTDIR]
#
# Password of every encrypted file: the contents of OUTDIR/password.txt, which is
#   s3cr3t p@ss/wörd      (UTF-8, no trailing newline; exercises percent-encoding end to end)
#
# Files (PEM files with a client identity hold the certificate(s) first, then the key,
# unless the name says otherwise):
#   ca.pem ca.key                 root CA "CN=mongo-x509 Test Root CA,O=mongo-x509 Tests"
#   ca.der                        ca.pem's certificate in DER (a tlsCAFile may be either)
#   intermediate.pem              intermediate CA signed by the root
#   other-ca.pem other-ca.key     an unrelated CA (for "unknown CA" tests)
#   server.pem (cert+key) server.crt server.key   CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1,
#                                 DNS:*.mongo.test (the hosts of the mongodb+srv:// tests' DNS zone)
#   server-other-ca.pem           same names, signed by other-ca (cert+key)
#   server-wronghost.pem          SAN DNS:wrong.example.com only, signed by ca (cert+key)
#   server-revoked.pem            same names as server.pem, signed by ca and revoked (cert+key)
#   crl.pem                       CRL of ca (`openssl ca -gencrl`) listing server-revoked
#   crl-encrypted-block.pem       crl.pem plus a legacy encrypted key block (must never prompt)
#   ca-with-encrypted-key.pem     ca.pem plus a legacy encrypted key block (must never prompt)
#   RSA client, subject CN=client,OU=Apps,O=Acme,ST=NY,C=US:
#     client.crt                  the certificate alone
#     client-pkcs8.pem            unencrypted PKCS#8 ("PRIVATE KEY")
#     client-pkcs1.pem            unencrypted PKCS#1 ("RSA PRIVATE KEY")
#     client-key-first.pem        PKCS#8 key before the certificate
#     client-pkcs8-aes256.pem     PBES2 AES-256-CBC, PBKDF2 HMAC-SHA256 ("ENCRYPTED PRIVATE KEY")
#     client-pkcs8-aes192.pem     PBES2 AES-192-CBC, PBKDF2 HMAC-SHA256
#     client-pkcs8-aes128-sha1.pem PBES2 AES-128-CBC, PBKDF2 HMAC-SHA1
#     client-pkcs8-des3.pem       PBES2 DES-EDE3-CBC, PBKDF2 HMAC-SHA256
#     client-pkcs8-scrypt.pem     PBES2 AES-256-CBC, scrypt
#     client-pkcs8-pbes1.pem      PBES1 pbeWithSHA1And3-KeyTripleDES-CBC (PKCS#12 PBE)
#     client-legacy-aes256.pem    legacy PEM (Proc-Type: 4,ENCRYPTED; DEK-Info: AES-256-CBC), RSA
#     client-legacy-aes128.pem    legacy PEM, AES-128-CBC, RSA
#     client-legacy-des3.pem      legacy PEM, DES-EDE3-CBC, RSA
#     client.p12                  PKCS#12, OpenSSL 3 defaults (AES-256-CBC, PBKDF2, HMAC-SHA256 MAC)
#     client-legacy.p12           PKCS#12 -legacy (RC2-40 certs, 3DES key, SHA-1 MAC)
#     client.pfx                  same bytes as client.p12 under another name
#   EC (P-256) client, subject CN=client-ec,OU=Apps,O=Acme,ST=NY,C=US:
#     client-ec.crt, client-ec-sec1.pem ("EC PRIVATE KEY"), client-ec-pkcs8.pem,
#     client-ec-pkcs8-aes256.pem, client-ec-legacy-aes256.pem, client-ec.p12
#   Chain client (signed by the intermediate), subject CN=client-chain,OU=Apps,O=Acme,ST=NY,C=US:
#     client-chain.pem            leaf, intermediate, then PBES2 AES-256 encrypted key
#     client-chain.p12            leaf key + leaf + intermediate, OpenSSL 3 defaults
#   Other identities:
#     stranger.pem                CN=stranger,OU=Apps,O=Acme,ST=NY,C=US, unencrypted (no user for it)
#     client-expired.pem          CN=expired, valid 2020-01-01 to 2021-01-01, unencrypted
#     client-notyet.pem           CN=notyet, valid from 2090-01-01, unencrypted
#   Bad inputs:
#     client-wrongkey.pem         client certificate + an unrelated RSA key
#     client-twokeys.pem          client certificate + its key + an unrelated key
#     client-otherpass.pem        client certificate + key encrypted with another password
#                                 ("other password")
#     client-certonly.pem         certificate, no key
#     client-keyonly.pem          PKCS#8 key, no certificate
#     client-truncated.pem        client-pkcs8-aes256.pem cut in the middle of the key block
#     garbage.pem                 random bytes
#     garbage.p12                 random bytes with a .p12 name
#     (wrong / missing password: use any encrypted file with a wrong / no password;
#      missing file: OUTDIR/does-not-exist.pem)
#   subjects.txt                  NAME=<subject DN, RFC 2253> for client, client-ec, client-chain,
#                                 stranger (as `openssl x509 -noout -subject -nameopt RFC2253` prints)

set -euo pipefail

command -v openssl >/dev/null || {
  echo "gen-test-certs.sh: the openssl CLI is required (Debian/Ubuntu: apt-get install openssl)" >&2
  exit 1
}

OUT=${1:-target/test-certs}
mkdir -p "$OUT"
cd "$OUT"

PASS='s3cr3t p@ss/wörd'
printf '%s' "$PASS" > password.txt
PASSARG="pass:$PASS"
DAYS=825
SUBJ_TAIL="/C=US/ST=NY/O=Acme/OU=Apps"

# v3 extensions, one section each.
cat > ext.cnf <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[intermediate]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[server]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1, DNS:*.mongo.test
[wronghost]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example.com
[client]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
CNF

rsa_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }
ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
# sign NAME SUBJECT KEY CA_CERT CA_KEY EXT_SECTION
sign() {
  openssl req -new -key "$3" -subj "$2" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA "$4" -CAkey "$5" -CAcreateserial -days $DAYS \
    -extfile ext.cnf -extensions "$6" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr"
}

# CAs
rsa_key ca.key
openssl req -x509 -new -key ca.key -subj "/O=mongo-x509 Tests/CN=mongo-x509 Test Root CA" -days $DAYS \
  -config /dev/null -extensions ca -config <(cat ext.cnf; printf '[req]\ndistinguished_name=dn\n[dn]\n') \
  -out ca.pem 2>/dev/null
openssl x509 -in ca.pem -outform DER -out ca.der
rsa_key intermediate.key
sign intermediate "/O=mongo-x509 Tests/CN=mongo-x509 Test Intermediate CA" intermediate.key ca.pem ca.key intermediate
mv intermediate.crt intermediate.pem
rsa_key other-ca.key
openssl req -x509 -new -key other-ca.key -subj "/O=Somebody Else/CN=Other Test CA" -days $DAYS \
  -extensions ca -config <(cat ext.cnf; printf '[req]\ndistinguished_name=dn\n[dn]\n') \
  -out other-ca.pem 2>/dev/null

# Servers
rsa_key server.key
sign server "/O=mongo-x509 Tests/CN=localhost" server.key ca.pem ca.key server
cat server.crt server.key > server.pem
sign server-other-ca "/O=mongo-x509 Tests/CN=localhost" server.key other-ca.pem other-ca.key server
cat server-other-ca.crt server.key > server-other-ca.pem
sign server-wronghost "/O=mongo-x509 Tests/CN=wrong.example.com" server.key ca.pem ca.key wronghost
cat server-wronghost.crt server.key > server-wronghost.pem

# RSA client: every key format
rsa_key client.key   # PKCS#8, unencrypted
sign client "$SUBJ_TAIL/CN=client" client.key ca.pem ca.key client
cat client.crt client.key > client-pkcs8.pem
openssl pkey -in client.key -traditional -out client-pkcs1.key 2>/dev/null \
  || openssl rsa -in client.key -traditional -out client-pkcs1.key 2>/dev/null
cat client.crt client-pkcs1.key > client-pkcs1.pem
cat client.key client.crt > client-key-first.pem
p8() { # p8 OUT_SUFFIX KEY CERT ARGS...
  local out=$1 key=$2 cert=$3; shift 3
  openssl pkcs8 -topk8 -in "$key" -passout "$PASSARG" "$@" -out "$out.key" 2>/dev/null
  cat "$cert" "$out.key" > "$out.pem"; rm -f "$out.key"
}
p8 client-pkcs8-aes256 client.key client.crt -v2 aes-256-cbc -v2prf hmacWithSHA256
p8 client-pkcs8-aes192 client.key client.crt -v2 aes-192-cbc -v2prf hmacWithSHA256
p8 client-pkcs8-aes128-sha1 client.key client.crt -v2 aes-128-cbc -v2prf hmacWithSHA1
p8 client-pkcs8-des3 client.key client.crt -v2 des3 -v2prf hmacWithSHA256
p8 client-pkcs8-scrypt client.key client.crt -scrypt -v2 aes-256-cbc
p8 client-pkcs8-pbes1 client.key client.crt -v1 PBE-SHA1-3DES
legacy() { # legacy OUT KEY CERT CIPHER TYPE(rsa|ec)
  local trad=""; [ "$5" = rsa ] && trad=-traditional
  openssl "$5" -in "$2" $trad -"$4" -passout "$PASSARG" -out "$1.key" 2>/dev/null
  grep -q "Proc-Type: 4,ENCRYPTED" "$1.key" || { echo "legacy PEM encryption not produced for $1" >&2; exit 1; }
  cat "$3" "$1.key" > "$1.pem"; rm -f "$1.key"
}
openssl rsa -in client.key -traditional -out client-rsa-trad.key 2>/dev/null
legacy client-legacy-aes256 client-rsa-trad.key client.crt aes256 rsa
legacy client-legacy-aes128 client-rsa-trad.key client.crt aes128 rsa
legacy client-legacy-des3 client-rsa-trad.key client.crt des3 rsa
openssl pkcs12 -export -in client.crt -inkey client.key -passout "$PASSARG" -out client.p12 2>/dev/null
openssl pkcs12 -export -legacy -in client.crt -inkey client.key -passout "$PASSARG" -out client-legacy.p12 2>/dev/null
cp client.p12 client.pfx

# EC client
ec_key client-ec.key
sign client-ec "$SUBJ_TAIL/CN=client-ec" client-ec.key ca.pem ca.key client
openssl ec -in client-ec.key -out client-ec-sec1.key 2>/dev/null
cat client-ec.crt client-ec-sec1.key > client-ec-sec1.pem
cat client-ec.crt client-ec.key > client-ec-pkcs8.pem
p8 client-ec-pkcs8-aes256 client-ec.key client-ec.crt -v2 aes-256-cbc -v2prf hmacWithSHA256
legacy client-ec-legacy-aes256 client-ec-sec1.key client-ec.crt aes256 ec
openssl pkcs12 -export -in client-ec.crt -inkey client-ec.key -passout "$PASSARG" -out client-ec.p12 2>/dev/null

# Chain client, signed by the intermediate
rsa_key client-chain.key
sign client-chain "$SUBJ_TAIL/CN=client-chain" client-chain.key intermediate.pem intermediate.key client
openssl pkcs8 -topk8 -in client-chain.key -passout "$PASSARG" -v2 aes-256-cbc -out client-chain-enc.key 2>/dev/null
cat client-chain.crt intermediate.pem client-chain-enc.key > client-chain.pem
openssl pkcs12 -export -in client-chain.crt -certfile intermediate.pem -inkey client-chain.key \
  -passout "$PASSARG" -out client-chain.p12 2>/dev/null

# Other identities
rsa_key stranger.key
sign stranger "$SUBJ_TAIL/CN=stranger" stranger.key ca.pem ca.key client
cat stranger.crt stranger.key > stranger.pem
# Expired / not yet valid need explicit dates: `openssl ca` takes them on OpenSSL 3.0.
dated() { # dated NAME START END
  rm -rf ca-db && mkdir ca-db && : > ca-db/index.txt && echo 1000 > ca-db/serial
  cat > ca-db/ca.cnf <<CNF
[ca]
default_ca = d
[d]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
default_md = sha256
policy = p
copy_extensions = none
unique_subject = no
[p]
commonName = supplied
CNF
  openssl req -new -key client.key -subj "$SUBJ_TAIL/CN=$1" -out "$1.csr" 2>/dev/null
  openssl ca -batch -config ca-db/ca.cnf -cert ca.pem -keyfile ca.key -in "$1.csr" \
    -startdate "$2" -enddate "$3" -extfile ext.cnf -extensions client -notext -out "$1.crt" 2>/dev/null
  rm -rf ca-db "$1.csr"
}
dated expired 20200101000000Z 20210101000000Z
cat expired.crt client.key > client-expired.pem
dated notyet 20900101000000Z 20910101000000Z
cat notyet.crt client.key > client-notyet.pem

# Revocation: a server certificate signed through an `openssl ca` database, revoked, and the CRL
rm -rf crl-db && mkdir crl-db && : > crl-db/index.txt && echo 2000 > crl-db/serial && echo 1000 > crl-db/crlnumber
cat > crl-db/ca.cnf <<CNF
[ca]
default_ca = d
[d]
database = crl-db/index.txt
serial = crl-db/serial
crlnumber = crl-db/crlnumber
new_certs_dir = crl-db
default_md = sha256
default_days = $DAYS
default_crl_days = 30
policy = p
copy_extensions = none
unique_subject = no
[p]
commonName = supplied
CNF
openssl req -new -key server.key -subj "/O=mongo-x509 Tests/CN=localhost" -out server-revoked.csr 2>/dev/null
openssl ca -batch -config crl-db/ca.cnf -cert ca.pem -keyfile ca.key -in server-revoked.csr \
  -extfile ext.cnf -extensions server -notext -out server-revoked.crt 2>/dev/null
openssl ca -config crl-db/ca.cnf -cert ca.pem -keyfile ca.key -revoke server-revoked.crt 2>/dev/null
openssl ca -config crl-db/ca.cnf -cert ca.pem -keyfile ca.key -gencrl -out crl.pem 2>/dev/null
grep -q "BEGIN X509 CRL" crl.pem || { echo "no CRL produced" >&2; exit 1; }
cat server-revoked.crt server.key > server-revoked.pem
rm -rf crl-db server-revoked.csr

# Bad inputs
rsa_key unrelated.key
cat client.crt unrelated.key > client-wrongkey.pem
cat client.crt client.key unrelated.key > client-twokeys.pem
openssl pkcs8 -topk8 -in client.key -passout "pass:other password" -v2 aes-256-cbc -out client-otherpass.key 2>/dev/null
cat client.crt client-otherpass.key > client-otherpass.pem
# An encrypted block where only certificates or CRLs belong: it must be skipped or refused,
# never handed to OpenSSL's default password callback (a terminal prompt).
sed -n '/BEGIN RSA PRIVATE KEY/,/END RSA PRIVATE KEY/p' client-legacy-aes256.pem > legacy-block.key
cat crl.pem legacy-block.key > crl-encrypted-block.pem
cat ca.pem legacy-block.key > ca-with-encrypted-key.pem
cp client.crt client-certonly.pem
cp client.key client-keyonly.pem
head -c "$(( $(wc -c < client-pkcs8-aes256.pem) * 3 / 4 ))" client-pkcs8-aes256.pem > client-truncated.pem
head -c 2048 /dev/urandom > garbage.pem
head -c 2048 /dev/urandom > garbage.p12

: > subjects.txt
for n in client client-ec client-chain stranger; do
  echo "$n=$(openssl x509 -in "$n.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')" >> subjects.txt
done
rm -f ./*.srl
echo "gen-test-certs.sh: test certificates written to $(pwd)"
