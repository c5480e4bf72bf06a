/* procsync-exporter: delivers the synced processes and sockets to the configured sinks (DeepFlow, HTTP,
 * file). Thin by design: the runtime (common/daemon.h) parses the command line, loads the config, opens
 * state.db and talks to systemd; exporter.c runs the loop. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon.h"
#include "exporter.h"
#include "log.h"
#include "sink-deepflow.h"

static int run(const DaemonArgs *args) {
        _cleanup_(config_diags_done) ConfigDiags diags = {};
        _cleanup_(daemon_freep) Daemon *d = NULL;
        _cleanup_(exporter_freep) Exporter *e = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = daemon_new(DAEMON_EXPORTER, args, &diags, &d, &error);
        config_diags_print(&diags, stderr);
        if (r < 0)
                return log_error_errno(r, "%s", strempty(error));

        r = exporter_new(d, &e);
        if (r < 0)
                return r;
        return exporter_run(e);
}

int main(int argc, char *argv[]) {
        _cleanup_(daemon_args_done) DaemonArgs args = {};
        _cleanup_free_ char *error = NULL;
        int r;

        log_setup("procsync-exporter");
        r = daemon_parse_args(argc, argv, &args, &error);
        if (r < 0) {
                fprintf(stderr, "procsync-exporter: %s\nTry 'procsync-exporter --help'.\n", strempty(error));
                return 2;
        }
        if (args.action == DAEMON_ARGS_HELP) {
                daemon_print_help(
                        stdout, "procsync-exporter",
                        "Deliver the synced processes and sockets to DeepFlow, HTTP and file sinks.");
                return EXIT_SUCCESS;
        }
        if (args.action == DAEMON_ARGS_VERSION) {
                puts(PROCSYNC_VERSION);
                return EXIT_SUCCESS;
        }

        /* Before anything can start a thread (the deepflow sink's gRPC core does): libcurl's global
         * initialisation is not thread-safe. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                log_error("Failed to initialise libcurl");
                return EXIT_FAILURE;
        }
        r = run(&args);
        /* After every sink is closed (run() returned): gRPC core's threads go, leak checkers see a clean
         * exit. */
        sink_deepflow_global_done();
        curl_global_cleanup();
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
