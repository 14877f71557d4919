#!/bin/sh
# make-feature-fixtures.sh DIR: certificates for the SNI, client certificate,
# OCSP and ticket tests, made fresh for every run (no key is ever committed).
#   ca.{crt,key}                    the test CA (ECDSA P-256)
#   sni/a.{crt,key}                 a.test, ECDSA
#   sni/wild.{crt,key}              *.wild.test, ECDSA
#   sni/dual-ec.{crt,key}           dual.test, ECDSA
#   sni/dual-rsa.{crt,key}          dual.test, RSA 2048
#   sni/a.crt.ocsp                  a good OCSP response for sni/a.crt
#   client.{crt,key}                CN=Test Client, issued by the CA
#   revoked.{crt,key}               CN=Revoked Client, issued by the CA, in crl.pem
#   rogue.{crt,key}                 CN=Rogue Client, self-signed
#   crl.pem                         the CA's CRL, revoking revoked.crt
#   ticket1.key, ticket2.key        two ticket master keys (64 random bytes, 0600)
set -eu
dir=$1
mkdir -p "$dir/sni"
cd "$dir"
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256"

fail() { cat "$1" >&2; exit 1; }
newreq() { # NAME CN KEYARGS...
	name=$1 cn=$2
	shift 2
	# shellcheck disable=SC2086 # KEYARGS are several words
	openssl req -new -nodes "$@" -subj "/CN=$cn" -keyout "$name.key" -out "$name.csr" 2>"$name.err" || fail "$name.err"
}
sign() { # NAME EXTENSIONS
	printf '%s\n' "$2" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 -extfile "$1.ext" \
		-out "$1.crt" 2>"$1.err" || fail "$1.err"
}
server() { # NAME HOST KEYARGS...
	name=$1 host=$2
	shift 2
	newreq "$name" "$host" "$@"
	sign "$name" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$host"
}
client() { # NAME CN
	# shellcheck disable=SC2086
	newreq "$1" "$2" $ec
	sign "$1" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
}

# shellcheck disable=SC2086
openssl req -x509 -nodes $ec -subj "/CN=Test CA" -days 7 -keyout ca.key -out ca.crt \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>ca.err || fail ca.err

# shellcheck disable=SC2086
server sni/a a.test $ec
# shellcheck disable=SC2086
server sni/wild '*.wild.test' $ec
# shellcheck disable=SC2086
server sni/dual-ec dual.test $ec
server sni/dual-rsa dual.test -newkey rsa:2048
rm -f sni/*.csr sni/*.ext sni/*.err

client client 'Test Client'
client revoked 'Revoked Client'
# shellcheck disable=SC2086
openssl req -x509 -nodes $ec -subj "/CN=Rogue Client" -days 7 -keyout rogue.key -out rogue.crt \
	-addext extendedKeyUsage=clientAuth 2>rogue.err || fail rogue.err

cat >crl.tmpl <<'TMPL'
crl_next_update = 7
crl_number = 1
TMPL
certtool --generate-crl --load-ca-privkey ca.key --load-ca-certificate ca.crt --load-certificate revoked.crt \
	--template crl.tmpl --outfile crl.pem 2>crl.err || fail crl.err

# OCSP: the CA answers for itself; openssl's index lists the certificate as
# valid.  (openssl cannot date a response in the past: the expired one is
# made by the test, with python3-cryptography.)
ocsp() { # CERT OUT
	cert=$1 out=$2
	serial=$(openssl x509 -in "$cert" -noout -serial | cut -d= -f2)
	subject=$(openssl x509 -in "$cert" -noout -subject -nameopt compat | sed 's/^subject=//')
	printf 'V\t301231235959Z\t\t%s\tunknown\t%s\n' "$serial" "$subject" >index.txt
	openssl ocsp -issuer ca.crt -cert "$cert" -no_nonce -reqout ocsp.req 2>ocsp.err || fail ocsp.err
	openssl ocsp -index index.txt -rsigner ca.crt -rkey ca.key -CA ca.crt -reqin ocsp.req -respout "$out" -ndays 1 \
		>ocsp.err 2>&1 || fail ocsp.err
}
ocsp sni/a.crt sni/a.crt.ocsp

for k in ticket1.key ticket2.key; do
	(umask 077 && head -c 64 /dev/urandom >"$k")
done
