#!/bin/sh
# make-fixtures.sh DIR: the test certificates and keys, made fresh for every
# run (no key is ever committed).  All for mail.test (CN and SAN):
#   {rsa,ecdsa,ed25519}.{crt,key}  RSA 2048, ECDSA P-256, Ed25519, self-signed
#   expired.{crt,key}              ECDSA, valid only in 2020
#   enc.{crt,key}                  ECDSA, key encrypted with passphrase "x"
#   other.key                      ECDSA, matches no certificate
#   garbage.crt                    not a certificate;  directory.crt  a directory
#   fifo.key                       a FIFO (opening it must not block)
#   chain17.crt                    17 certificates, one more than a chain may have
# and for case C09 (certificate and key problems):
#   enc-legacy.key                 ECDSA, old-style PEM encryption (Proc-Type), passphrase "x"
#   empty.crt, empty.key           empty files
#   ca.crt, misordered.crt,        a CA, an intermediate and a leaf (key misordered.key);
#     misordered.key               misordered.crt holds the intermediate BEFORE the leaf
#   crlf.{crt,key}                 ECDSA with CRLF line endings
#   trailing.{crt,key}             ECDSA with text after the -----END line
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
cat >req.cnf <<'CNF'
[req]
distinguished_name = dn
x509_extensions = ext
prompt = no
[dn]
CN = mail.test
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:mail.test
subjectKeyIdentifier = hash
CNF
selfsigned() { # NAME OPENSSL-NEWKEY-ARGS...
	name=$1
	shift
	openssl req -x509 -config req.cnf "$@" -nodes -days 7 -keyout "$name.key" -out "$name.crt" 2>"$name.err" ||
		{ cat "$name.err" >&2; exit 1; }
}
selfsigned rsa -newkey rsa:2048
selfsigned ecdsa -newkey ec -pkeyopt ec_paramgen_curve:P-256
selfsigned ed25519 -newkey ed25519
ec="-algorithm EC -pkeyopt ec_paramgen_curve:P-256"
openssl genpkey $ec -out other.key 2>/dev/null
openssl genpkey $ec -aes256 -pass pass:x -out enc.key 2>/dev/null
openssl req -x509 -config req.cnf -key enc.key -passin pass:x -days 7 -out enc.crt 2>/dev/null
openssl genpkey $ec -out expired.key 2>/dev/null
cat >expired.tmpl <<'TMPL'
cn = mail.test
dns_name = mail.test
activation_date = "2020-01-01 00:00:00 UTC"
expiration_date = "2020-12-31 00:00:00 UTC"
tls_www_server
signing_key
TMPL
certtool --generate-self-signed --load-privkey expired.key --template expired.tmpl --outfile expired.crt 2>/dev/null
echo 'this is not a certificate' >garbage.crt
mkdir -p directory.crt
[ -p fifo.key ] || mkfifo fifo.key
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17; do cat ecdsa.crt; done >chain17.crt
openssl ec -in ecdsa.key -aes256 -passout pass:x -out enc-legacy.key 2>/dev/null
: >empty.crt
: >empty.key
cat >ca.cnf <<'CNF'
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 -subj '/CN=Test CA' \
	-addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
	-keyout ca.key -out ca.crt 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=Test Intermediate' \
	-keyout int.key 2>/dev/null |
	openssl x509 -req -CA ca.crt -CAkey ca.key -set_serial 2 -days 7 -extfile ca.cnf -extensions ca \
		-out int.crt 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -config req.cnf \
	-keyout misordered.key 2>/dev/null |
	openssl x509 -req -CA int.crt -CAkey int.key -set_serial 3 -days 7 -extfile req.cnf -extensions ext \
		-out leaf.crt 2>/dev/null
cat int.crt leaf.crt >misordered.crt
for f in crt key; do
	sed 's/$/\r/' "ecdsa.$f" >"crlf.$f"
	{ cat "ecdsa.$f"; echo 'trailing text after the PEM block'; } >"trailing.$f"
done
