// Debian's libcivetweb resolves OpenSSL by dlopen("libssl.so") + dlsym at run time, with
// the OpenSSL 1.1 names. One of them, SSL_get_peer_certificate, is only a macro in
// OpenSSL 3 (for SSL_get1_peer_certificate, same semantics: a new reference), so the
// lookup yields NULL and the first TLS connection calls it. This library carries the
// soname "libssl.so" and depends on the real libssl.so.3: loaded (RTLD_GLOBAL) before
// civetweb's TLS initialisation, it is what civetweb's dlopen returns, and dlsym finds the
// missing name here and every other one in libssl.so.3 behind it.
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate
X509* SSL_get_peer_certificate(const SSL* s) { return SSL_get1_peer_certificate(s); }
