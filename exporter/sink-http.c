/* The http sink: POSTs the sync state as JSON (state-json.h) to `url` with libcurl's easy API. The protocol
 * (README "HTTP sink protocol"):
 *
 *   - a full document ({"full": true, processes, sockets}) replaces what the receiver holds; 2xx = stored;
 *   - a heartbeat ({"version", "hostname", "full": false}) asks "do you hold this version?": 2xx = yes,
 *     409 or 410 = no (lost it, restarted, never had it): the sink sends the full document at once.
 *
 * Which one goes out: the full document when the receiver is not known to hold our version (acked_version
 * 0 or older), a heartbeat when it is. One exception makes restarts exact: on the first contact of this
 * process with an acked_version that is not 0, the sink sends a heartbeat first, because the exporter may
 * have been killed after the receiver stored our version but before the acknowledgement was written — the
 * receiver then answers 2xx and gets no duplicate, or 409 and gets the full document.
 *
 * A push is bounded by the sink's timeout as a whole (a heartbeat followed by a full resend share it), so
 * a receiver that hangs costs the exporter at most `timeout` per attempt. The connection is kept alive
 * between pushes (one easy handle per sink). No redirects are followed; only http and https are allowed;
 * TLS peer and host verification are on unless the config says `tls_verify: false`.
 *
 * A SIGTERM or SIGINT that arrives during a transfer aborts it (-EINTR): the daemon blocks those signals
 * and reads them from a signalfd, so until it does they are pending, which the progress callback sees
 * with sigpending(). Shutting down never waits for a slow receiver's timeout. */
#include <curl/curl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

#include "sink.h"
#include "state-json.h"
#include "time-util.h"

#define RESPONSE_EXCERPT_MAX 200

typedef struct HttpSink {
        char *name;
        char *url;
        CURL *curl;
        struct curl_slist *headers;
        usec_t timeout;
        bool tls_verify;
        bool contacted;                         /* a request of this process got a 2xx */
        char excerpt[RESPONSE_EXCERPT_MAX + 1]; /* start of the last response body, printable */
        size_t n_excerpt;
        char errbuf[CURL_ERROR_SIZE];
} HttpSink;

static int set_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int set_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return r;
}

static void http_close(void *impl) {
        HttpSink *h = impl;

        if (!h)
                return;
        if (h->curl)
                curl_easy_cleanup(h->curl);
        curl_slist_free_all(h->headers);
        free(h->name);
        free(h->url);
        free(h);
}

/* Keeps the start of the body for error messages (a receiver's reason), discards the rest. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata) {
        HttpSink *h = userdata;
        size_t n = size * nmemb;

        for (size_t i = 0; i < n && h->n_excerpt < RESPONSE_EXCERPT_MAX; i++) {
                char c = data[i];

                if (c == '\n' || c == '\r')
                        c = ' ';
                h->excerpt[h->n_excerpt++] = (c >= 0x20 && c < 0x7f) ? c : '?';
        }
        h->excerpt[h->n_excerpt] = '\0';
        return n;
}

/* Aborts the transfer when termination is pending (see the top of the file). */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
        sigset_t pending;

        if (sigpending(&pending) < 0)
                return 0;
        return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1;
}

static int http_open(const ConfigSink *cfg, void **ret_impl, char **ret_error) {
        HttpSink *h;
        struct curl_slist *l;

        if (isempty(cfg->url))
                return set_error(ret_error, -EINVAL, "http sink '%s' has no url", strempty(cfg->name));
        h = calloc(1, sizeof(HttpSink));
        if (!h)
                return -ENOMEM;
        h->name = strdup(strempty(cfg->name));
        h->url = strdup(cfg->url);
        h->timeout = cfg->timeout > 0 ? cfg->timeout : 10 * USEC_PER_SEC;
        h->tls_verify = cfg->tls_verify;
        h->curl = curl_easy_init();
        if (!h->name || !h->url || !h->curl) {
                http_close(h);
                return -ENOMEM;
        }

        /* "Expect:" turns off curl's 100-continue round trip for large bodies. */
        l = curl_slist_append(NULL, "Content-Type: application/json");
        if (l)
                h->headers = l, l = curl_slist_append(h->headers, "Expect:");
        for (char **i = cfg->headers; l && i && *i; i++)
                h->headers = l, l = curl_slist_append(h->headers, *i);
        if (!l) {
                http_close(h);
                return -ENOMEM;
        }
        h->headers = l;

        if (curl_easy_setopt(h->curl, CURLOPT_URL, h->url) != CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_POST, 1L) != CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers) != CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "procsync-exporter/" PROCSYNC_VERSION) !=
                    CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYPEER, h->tls_verify ? 1L : 0L) != CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYHOST, h->tls_verify ? 2L : 0L) != CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h) != CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf) != CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_XFERINFOFUNCTION, on_progress) != CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_NOPROGRESS, 0L) != CURLE_OK) {
                http_close(h);
                return set_error(ret_error, -EINVAL, "http sink '%s': libcurl refused an option",
                                 strempty(cfg->name));
        }
        *ret_impl = h;
        return 0;
}

/* One POST within the push's deadline. Returns the HTTP status (> 0), or -errno with *ret_error set when
 * no answer came. */
static int http_post(HttpSink *h, const char *body, size_t len, usec_t deadline, char **ret_error) {
        usec_t now = now_usec(CLOCK_MONOTONIC);
        long ms, status = 0;
        CURLcode c;

        if (now >= deadline)
                return set_error(ret_error, -ETIMEDOUT, "timed out after %" PRIu64 " ms",
                                 (uint64_t) (h->timeout / USEC_PER_MSEC));
        ms = (long) ((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC);
        h->errbuf[0] = '\0';
        h->n_excerpt = 0;
        h->excerpt[0] = '\0';
        if (curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len) != CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, ms) != CURLE_OK ||
            curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, ms) != CURLE_OK)
                return set_error(ret_error, -EINVAL, "libcurl refused an option");

        c = curl_easy_perform(h->curl);
        /* The body pointer must not outlive this call in the handle. */
        (void) curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL);
        if (c == CURLE_ABORTED_BY_CALLBACK)
                return set_error(ret_error, -EINTR, "interrupted: the exporter is shutting down");
        if (c != CURLE_OK)
                return set_error(ret_error, c == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECOMM, "%s",
                                 h->errbuf[0] ? h->errbuf : curl_easy_strerror(c));
        if (curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status <= 0)
                return set_error(ret_error, -EPROTO, "no HTTP status in the answer");
        return (int) status;
}

static bool status_ok(int status) {
        return status >= 200 && status < 300;
}

static bool status_lost(int status) {
        return status == 409 || status == 410;
}

static int status_error(HttpSink *h, int status, const char *what, char **ret_error) {
        return set_error(ret_error, -EPROTO, "HTTP %d to the %s%s%s", status, what, h->n_excerpt ? ": " : "",
                         h->excerpt);
}

static int http_push(void *impl, const SyncState *st, uint64_t acked_version, uint64_t *ret_acked_version,
                     char **ret_error) {
        HttpSink *h = impl;
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + h->timeout;
        _cleanup_free_ char *doc = NULL;
        size_t len;
        int r, status;

        if (acked_version == st->version || (!h->contacted && acked_version != 0)) {
                r = state_json_dump(st, false, &doc, &len);
                if (r < 0)
                        return set_error(ret_error, r, "cannot serialize the heartbeat");
                status = http_post(h, doc, len, deadline, ret_error);
                if (status < 0)
                        return status;
                if (status_ok(status)) {
                        h->contacted = true;
                        *ret_acked_version = st->version;
                        return 0;
                }
                if (!status_lost(status))
                        return status_error(h, status, "heartbeat", ret_error);
                free(TAKE_PTR(doc));
        }

        r = state_json_dump(st, true, &doc, &len);
        if (r < 0)
                return set_error(ret_error, r, "cannot serialize version %" PRIu64, st->version);
        status = http_post(h, doc, len, deadline, ret_error);
        if (status < 0)
                return status;
        if (!status_ok(status))
                return status_error(h, status, "full state", ret_error);
        h->contacted = true;
        *ret_acked_version = st->version;
        return 0;
}

const SinkOps sink_http_ops = {
        .type = SINK_HTTP,
        .open = http_open,
        .close = http_close,
        .push = http_push,
};
