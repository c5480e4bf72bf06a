/* procsync-api: the read-only REST API over state.db (DESIGN.md "REST API").
 *
 * main() parses the command line, loads the config (a daemon never starts on an invalid file), picks up
 * the sockets systemd passed or opens --listen / procsync.api.listen, starts the HTTP server, sends
 * READY=1 and runs one poll loop over a signalfd and the server's fds: SIGTERM/SIGINT stop it cleanly
 * (connections closed, unix socket files removed, STOPPING=1), SIGHUP reloads the config (the old one
 * stays on error). state.db is opened read-only on the first request that needs it and kept open; the API
 * may start before the daemons have created it. */
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>

#include "api-cache.h"
#include "api-listen.h"
#include "api-server.h"
#include "api.h"
#include "log.h"

/* More --listen options than this is a mistake. */
#define API_MAX_LISTEN 16

static const char *arg_config = NULL;
static const char *arg_state_dir = NULL;
static const char *arg_listen[API_MAX_LISTEN];
static size_t arg_n_listen = 0;

static void help(FILE *f) {
        fprintf(f,
                "Usage: procsync-api [OPTIONS]\n\n"
                "The read-only REST API of procsync over state.db.\n\n"
                "Options:\n"
                "  -c, --config FILE      Config file (else $%s, else %s)\n"
                "      --state-dir DIR    State directory (overrides procsync.state_dir)\n"
                "      --listen SPEC      Listen on HOST:PORT, [V6]:PORT or unix:PATH (repeatable;\n"
                "                         default: procsync.api.listen). Sockets passed by systemd\n"
                "                         take precedence.\n"
                "  -h, --help             Show this help\n"
                "      --version          Show the version\n",
                CONFIG_ENV, CONFIG_DEFAULT_PATH);
}

/* 1: run; 0: exit 0 (help, version); -EINVAL: usage error (exit 2). */
static int parse_argv(int argc, char *argv[]) {
        enum { ARG_STATE_DIR = 0x100, ARG_LISTEN, ARG_VERSION };
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},
                {"state-dir", required_argument, NULL, ARG_STATE_DIR},
                {"listen", required_argument, NULL, ARG_LISTEN},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, ARG_VERSION},
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_STATE_DIR:
                        if (isempty(optarg)) {
                                log_error("--state-dir needs a directory.");
                                return -EINVAL;
                        }
                        arg_state_dir = optarg;
                        break;
                case ARG_LISTEN:
                        if (arg_n_listen >= API_MAX_LISTEN) {
                                log_error("More than %d --listen options.", API_MAX_LISTEN);
                                return -EINVAL;
                        }
                        if (api_listen_spec_check(optarg) < 0) {
                                log_error("--listen '%s' is not HOST:PORT, [V6]:PORT or unix:PATH.", optarg);
                                return -EINVAL;
                        }
                        arg_listen[arg_n_listen++] = optarg;
                        break;
                case 'h':
                        help(stdout);
                        return 0;
                case ARG_VERSION:
                        printf("procsync-api %s\n", PROCSYNC_VERSION);
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                log_error("Unexpected argument '%s'.", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* On failure, *ret_error (when given) is the one-line summary: FILE:LINE:COL: message. */
static int load_config(Config **ret, char **ret_error) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(config_diags_done) ConfigDiags diags = {};
        int r;

        r = config_load(arg_config, &c, &diags);
        config_diags_print(&diags, stderr);
        if (r < 0 && ret_error)
                *ret_error = config_diags_summary(&diags, arg_config, r);
        if (r == -EINVAL)
                return log_error_errno(r, "The configuration '%s' is invalid.", strempty(diags.path));
        if (r < 0)
                return log_error_errno(r, "Failed to load the configuration: %m");
        if (arg_state_dir) {
                r = config_set_state_dir(c, arg_state_dir);
                if (r < 0)
                        return log_error_errno(r, "Failed to apply --state-dir '%s': %m", arg_state_dir);
        }
        *ret = TAKE_PTR(c);
        return 0;
}

/* The outcome goes to the service manager (or procctl run) in STATUS=, as the other daemons do. */
static void reload(Api *api) {
        _cleanup_free_ char *error = NULL;
        Config *c = NULL;

        (void) sd_notify(0, "RELOADING=1");
        if (load_config(&c, &error) < 0) {
                log_error("Reload failed, keeping the previous configuration: %s", strempty(error));
                (void) sd_notifyf(0, "READY=1\nSTATUS=Configuration error, keeping the previous one: %s",
                                  strempty(error));
                return;
        }
        config_free(api->config);
        api->config = c;
        api_cache_clear(api->cache);
        log_info("Configuration reloaded");
        (void) sd_notify(0, "READY=1\nSTATUS=Configuration reloaded");
}

static int open_listeners(const Config *c, ApiListeners *l) {
        _cleanup_free_ char *ignored = NULL;
        int r;

        r = api_listeners_from_systemd(l, &ignored);
        if (r < 0)
                return log_error_errno(r, "Failed to take the sockets passed by systemd: %m");
        if (ignored)
                log_warning("Ignoring sockets passed by systemd that are not listening stream sockets named "
                            "'api', 'api-*' or 'procsync-api.socket': %s",
                            ignored);
        if (r > 0)
                return 0;

        if (arg_n_listen > 0)
                for (size_t i = 0; i < arg_n_listen; i++) {
                        _cleanup_free_ char *error = NULL;

                        r = api_listeners_open(l, arg_listen[i], &error);
                        if (r < 0)
                                return log_error_errno(r, "%s", error ?: "Out of memory.");
                }
        else
                for (char **s = c->api_listen; s && *s; s++) {
                        _cleanup_free_ char *error = NULL;

                        r = api_listeners_open(l, *s, &error);
                        if (r < 0)
                                return log_error_errno(r, "%s (procsync.api.listen)",
                                                       error ?: "Out of memory.");
                }
        if (l->n == 0)
                return log_error_errno(-EINVAL, "Nothing to listen on (procsync.api.listen is empty).");
        return 0;
}

static int run(void) {
        _cleanup_(api_listeners_done) ApiListeners listeners = {};
        _cleanup_(api_server_freep) ApiServer *server = NULL;
        _cleanup_close_ int sfd = -EBADF;
        _cleanup_free_ struct pollfd *fds = NULL;
        _cleanup_free_ char *error = NULL, *where = NULL;
        Api api = {};
        uint64_t watchdog_usec = 0;
        usec_t last_watchdog = 0;
        sigset_t mask;
        size_t n;
        int r;

        r = load_config(&api.config, NULL);
        if (r < 0)
                return r;
        api.cache = api_cache_new();
        if (!api.cache) {
                r = log_error_errno(-ENOMEM, "Out of memory.");
                goto finish;
        }
        api.state_dir = arg_state_dir ? strdup(arg_state_dir) : strdup(api.config->state_dir);
        if (!api.state_dir) {
                r = log_error_errno(-ENOMEM, "Out of memory.");
                goto finish;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                r = log_error_errno(negative_errno(), "Failed to block signals: %m");
                goto finish;
        }
        (void) signal(SIGPIPE, SIG_IGN);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0) {
                r = log_error_errno(negative_errno(), "Failed to create a signalfd: %m");
                goto finish;
        }

        r = open_listeners(api.config, &listeners);
        if (r < 0)
                goto finish;
        for (size_t i = 0; i < listeners.n; i++) {
                char *w = NULL;

                if (asprintf(&w, "%s%s%s", strempty(where), where ? ", " : "",
                             listeners.items[i].description) < 0) {
                        r = log_error_errno(-ENOMEM, "Out of memory.");
                        goto finish;
                }
                free(where);
                where = w;
        }

        r = api_server_new(&api, &listeners, &server, &error);
        if (r < 0) {
                r = log_error_errno(r, "Failed to start the HTTP server: %s", error ?: "out of memory");
                goto finish;
        }

        if (api_db_ensure(&api) < 0)
                log_notice("%s; answering 503 until it exists", strempty(api.db_error));
        log_info("Listening on %s (state %s)", where, api.state_dir);
        (void) sd_notifyf(0, "READY=1\nSTATUS=Listening on %s", where);
        if (sd_watchdog_enabled(0, &watchdog_usec) <= 0)
                watchdog_usec = 0;

        n = 1 + api_server_n_fds(server);
        fds = calloc(n, sizeof(struct pollfd));
        if (!fds) {
                r = log_error_errno(-ENOMEM, "Out of memory.");
                goto finish;
        }
        for (;;) {
                int timeout = api_server_timeout_ms(server);
                struct signalfd_siginfo si;
                bool stop = false;

                if (watchdog_usec > 0) {
                        usec_t now = now_usec(CLOCK_MONOTONIC);
                        int left;

                        if (now - last_watchdog >= watchdog_usec / 2) {
                                (void) sd_notify(0, "WATCHDOG=1");
                                last_watchdog = now;
                        }
                        left = (int) ((last_watchdog + watchdog_usec / 2 - now) / USEC_PER_MSEC) + 1;
                        if (timeout < 0 || left < timeout)
                                timeout = left;
                }
                fds[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
                api_server_pollfds(server, fds + 1);
                if (poll(fds, n, timeout) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = log_error_errno(negative_errno(), "poll() failed: %m");
                        goto finish;
                }
                while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                        if (si.ssi_signo == SIGHUP)
                                reload(&api);
                        else
                                stop = true;
                }
                if (stop)
                        break;
                api_server_run(server);
        }
        log_info("Terminating");
        (void) sd_notify(0, "STOPPING=1");
        r = 0;

finish:
        server = api_server_free(server);
        api_listeners_done(&listeners);
        if (api.db)
                sqlite3_close_v2(api.db);
        free(api.db_error);
        api_cache_free(api.cache);
        free(api.state_dir);
        config_free(api.config);
        return r;
}

int main(int argc, char *argv[]) {
        int r;

        log_setup("procsync-api");
        r = parse_argv(argc, argv);
        if (r < 0) {
                help(stderr);
                return 2;
        }
        if (r == 0)
                return 0;
        return run() < 0 ? 1 : 0;
}
