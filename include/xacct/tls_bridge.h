/* SPDX-License-Identifier: MIT */
/*
 * TLS for the Redis connection, outside hiredis. Debian 12's hiredis 0.14 has
 * no TLS, so the store lets hiredis speak plain RESP to a private Unix socket
 * and this module carries those bytes over TLS (OpenSSL with memory BIOs) on
 * the same libuv loop: TCP connect, TLS handshake with certificate and
 * host-name verification, then a one-connection Unix listener in a fresh
 * 0700 directory that is removed as soon as hiredis has connected. Nothing
 * here knows RESP; the module includes no hiredis.
 *
 * Life cycle: xacct_tls_bridge_new starts resolving and connecting; ready_cb
 * fires once, either with status 0 and the socket path to connect hiredis to,
 * or with an error and a detail naming the cause (refused, certificate not
 * trusted, host name mismatch, server not speaking TLS). After a successful
 * ready_cb the bridge pumps bytes both ways until either side closes; a TLS
 * or TCP failure then closes the Unix side (hiredis sees the connection end)
 * and xacct_tls_bridge_error tells why. xacct_tls_bridge_free may be called at
 * any time, also from inside ready_cb; no callback fires after it.
 */
#ifndef XACCT_TLS_BRIDGE_H
#define XACCT_TLS_BRIDGE_H

#include <stddef.h>
#include <uv.h>

#include "xacct/common.h"

/* The TLS settings shared by every connection of one store: trust anchors
 * (a CA file, or the system trust store when ca_file is NULL/empty), and an
 * optional client certificate and key. */
typedef struct xacct_tls_config xacct_tls_config_t;

/* Loads the files now, so a bad path or key is reported at start-up:
 * XACCT_EINVAL with the reason in err. *out is freed with
 * xacct_tls_config_free. */
int xacct_tls_config_new(const char *ca_file, const char *cert_file, const char *key_file,
                         xacct_tls_config_t **out, char *err, size_t errlen) XACCT_MUSTCHECK;
void xacct_tls_config_free(xacct_tls_config_t *cfg);

/* At a connection's start: when a file changed since it was loaded (a
 * renewed certificate or CA), loads them all again and uses them from now
 * on. Files that do not load leave the previous ones in use; the reason is
 * returned (borrowed, until the next call) while they stay that way, NULL
 * otherwise. */
const char *xacct_tls_config_refresh(xacct_tls_config_t *cfg);

/* The context new connections are made from (borrowed). */
struct ssl_ctx_st *xacct_tls_config_ctx(const xacct_tls_config_t *cfg);

/* The reason of OpenSSL's latest error, its queue cleared (src/store). */
void xacct__tls_reason(char *out, size_t outlen);

typedef struct xacct_tls_bridge xacct_tls_bridge_t;

/* status 0: path is the Unix socket to connect to (borrowed, valid during the
 * callback). Otherwise XACCT_ECONNREFUSED, XACCT_ECERT (the certificate or its
 * host name was not accepted), XACCT_EDISCONNECTED (anything else), with
 * detail borrowed for the callback. */
typedef void (*xacct_tls_bridge_ready_cb)(int status, const char *detail, const char *path,
                                          void *arg);

/*
 * Starts a bridge to host:port. The certificate must chain to cfg's trust
 * anchors and name host (a DNS name, or an IP literal matched against the
 * certificate's IP addresses). cfg is borrowed and must outlive the bridge.
 * Returns 0 (ready_cb will fire unless the bridge is freed first) or
 * XACCT_EIO when no socket directory could be made.
 */
int xacct_tls_bridge_new(uv_loop_t *loop, const xacct_tls_config_t *cfg, const char *host,
                         int port, xacct_tls_bridge_ready_cb ready_cb, void *arg,
                         xacct_tls_bridge_t **out) XACCT_MUSTCHECK;

/* Why the TLS side ended, or NULL while it is healthy (borrowed, lives as
 * long as the bridge). */
const char *xacct_tls_bridge_error(const xacct_tls_bridge_t *b);

/* 1 while the TLS handshake is under way (TCP connected, no answer to our
 * hello yet or not finished): a timeout then most likely means a server that
 * does not speak TLS on that port. */
int xacct_tls_bridge_handshaking(const xacct_tls_bridge_t *b);

/* While the TCP connect to one address of the name is still unanswered and
 * another address is left: gives that one up and dials the next (0), so a
 * silent address costs one connect timeout, not every attempt. Else -1. */
int xacct_tls_bridge_next_address(xacct_tls_bridge_t *b);

/* Closes both sides and releases the bridge from its handles' close callbacks
 * (run the loop afterwards). NULL does nothing. */
void xacct_tls_bridge_free(xacct_tls_bridge_t *b);

#endif
