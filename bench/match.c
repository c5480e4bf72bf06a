/* bench-match: how long one full decision pass of the rule engine takes on a big host.
 *
 * Builds 10,000 synthetic processes (a process tree five levels deep under pid 1, so most processes have
 * five ancestors; a few hundred distinct comms as on a real host, unique cmdlines, tags on about a third)
 * and 50 rules of all four match types ending in a catch-all drop, the shape DESIGN.md recommends. A pass
 * does what the matcher does per process: walk the parent chain through the table, decide, free the
 * decision. Prints the median (and min/max) of 20 passes and where the processes were decided.
 *
 * Run it on a release build without sanitizers (see the README, section "Rules"). */
#include <inttypes.h>
#include <stdio.h>

#include "rules.h"
#include "time-util.h"

#define N_PROCS 10000
#define N_RUNS 20
#define MAX_TAGS 3

typedef struct Proc {
        pid_t pid, ppid;
        char comm[16];
        char *cmdline;
        RuleTag tags[MAX_TAGS];
        size_t n_tags;
} Proc;

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint32_t rnd(uint32_t n) {
        rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
        return (uint32_t) (rng_state >> 33) % n;
}

static const char *const common_comms[] = {
        "bash", "sh", "sleep", "sshd", "nginx", "php-fpm", "python3", "java", "node", "postgres",
        "redis-server", "mysqld", "containerd-shim", "dockerd", "supervisord", "gunicorn", "celery", "cron",
        "rsyslogd", "haproxy", "envoy", "memcached", "ruby", "perl", "kafka", "zookeeper", "etcd", "kubelet",
        "chronyd", "systemd-journal", "agetty", "dbus-daemon", "top", "ps", "ssh", "tmux", "vim", "less",
        "rabbitmq", "beam.smp",
};

/* Strings the bench keeps for its lifetime; freed at exit. */
static char *xstrdup(const char *s) {
        char *p = strdup(s);

        if (!p)
                abort();
        return p;
}

static char *make_cmdline(const char *comm, pid_t pid) {
        char buf[512];
        unsigned k = rnd(300);

        if (streq(comm, "python3"))
                snprintf(buf, sizeof(buf), "python3 /srv/app/svc%u.py --port %u --workers 4", k, 8000 + k);
        else if (streq(comm, "java"))
                snprintf(buf, sizeof(buf),
                         "java -Xmx2g -Xms512m -cp /opt/lib/common.jar:/opt/lib/logging.jar:"
                         "/opt/lib/json.jar -Dservice.id=%d -jar /opt/svc%u/app.jar "
                         "--spring.profiles.active=prod",
                         (int) pid, k);
        else if (streq(comm, "node"))
                snprintf(buf, sizeof(buf), "node /srv/web%u/server.js --port %u", k, 3000 + k);
        else if (streq(comm, "bash") || streq(comm, "sh"))
                snprintf(buf, sizeof(buf), "%s -c /usr/local/bin/job-%u.sh", comm, k);
        else if (strneq(comm, "zz-", 3))
                snprintf(buf, sizeof(buf), "/usr/bin/%s --config /etc/%s/%u.conf --instance %d", comm, comm,
                         k, (int) pid);
        else
                snprintf(buf, sizeof(buf), "/usr/bin/%s --config /etc/%s/%u.conf --id %d", comm, comm, k,
                         (int) pid);
        return xstrdup(buf);
}

/* worst: no rule but the final catch-all matches anyone, so every process goes through all 50 rules, every
 * parent rule through all ancestors and every tag rule through all tags. */
static void make_procs(Proc *procs, bool worst) {
        /* Level sizes under pid 1: a level-5 process has four ancestors above it plus pid 1. */
        static const size_t level_size[] = { 1, 40, 200, 800, 2000 };
        size_t level_start[6], idx = 0;
        char buf[64];

        for (size_t l = 0; l < 5; l++) {
                level_start[l] = idx;
                idx += level_size[l];
        }
        level_start[5] = idx;

        for (size_t i = 0; i < N_PROCS; i++) {
                Proc *p = &procs[i];
                size_t level = 5;

                for (size_t l = 0; l < 5; l++)
                        if (i >= level_start[l] && i < level_start[l] + level_size[l])
                                level = l;
                p->pid = (pid_t) i + 1;
                if (level == 0) {
                        p->ppid = 0;
                        snprintf(p->comm, sizeof(p->comm), "systemd");
                        p->cmdline = xstrdup("/sbin/init splash");
                        continue;
                }
                p->ppid = (pid_t) (level_start[level - 1] + rnd((uint32_t) level_size[level - 1]) + 1);
                if (worst)
                        snprintf(p->comm, sizeof(p->comm), "zz-%03u", rnd(360));
                else if (rnd(2) == 0)
                        snprintf(p->comm, sizeof(p->comm), "%s",
                                 common_comms[rnd(ELEMENTSOF(common_comms))]);
                else
                        snprintf(p->comm, sizeof(p->comm), "svc-%03u", rnd(360));
                p->cmdline = make_cmdline(p->comm, p->pid);

                if (rnd(3) == 0) {
                        p->n_tags = 1 + rnd(MAX_TAGS);
                        snprintf(buf, sizeof(buf), "%s-%u", worst ? "zz" : "svc", rnd(400));
                        p->tags[0] = (RuleTag) { worst ? "label" : "app", xstrdup(buf) };
                        if (p->n_tags > 1) {
                                snprintf(buf, sizeof(buf), "t%u", worst ? 20 + rnd(12) : rnd(12));
                                p->tags[1] = (RuleTag) { "team", xstrdup(buf) };
                        }
                        if (p->n_tags > 2)
                                p->tags[2] = (RuleTag) { "env", rnd(4) == 0 && !worst ? "staging" : "prod" };
                }
        }
}

#define R(type, act, re, rw)                                                                               \
        { .match_regex = (char *) (re), .match_type = (type), .action = (act), .rewrite_name = (char *) (rw) }

static const ConfigRule rules[] = {
        R(MATCH_PROCESS_NAME, ACTION_DROP, "^(sleep|bash|sh|ssh|top|ps|tmux|vim|less)$", NULL),
        R(MATCH_PROCESS_NAME, ACTION_DROP, "^(agetty|chronyd|rsyslogd|dbus-daemon|cron)$", NULL),
        R(MATCH_PROCESS_NAME, ACTION_DROP, "^systemd-", NULL),
        R(MATCH_PROCESS_NAME, ACTION_DROP, "^kworker/", NULL),
        R(MATCH_PROCESS_NAME, ACTION_ACCEPT, "^svc-00(\\d)$", "service-$1"),
        R(MATCH_PROCESS_NAME, ACTION_ACCEPT, "^(?<db>postgres|mysqld)$", "${db}-%HOSTNAME%"),
        R(MATCH_PROCESS_NAME, ACTION_ACCEPT, "^redis-server$", "redis"),
        R(MATCH_PROCESS_NAME, ACTION_ACCEPT, "^memcached$", NULL),
        R(MATCH_PROCESS_NAME, ACTION_ACCEPT, "^haproxy$", NULL),
        R(MATCH_PROCESS_NAME, ACTION_ACCEPT, "^envoy$", NULL),
        R(MATCH_PROCESS_NAME, ACTION_DROP, "^svc-1[0-4]\\d$", NULL),
        R(MATCH_PROCESS_NAME, ACTION_ACCEPT, "^(kafka|zookeeper)$", "$1"),
        R(MATCH_PROCESS_NAME, ACTION_ACCEPT, "^etcd$", NULL),
        R(MATCH_PROCESS_NAME, ACTION_ACCEPT, "^rabbitmq|^beam\\.smp$", "rabbitmq"),
        R(MATCH_PROCESS_NAME, ACTION_DROP, "^kubelet$", NULL),
        R(MATCH_CMDLINE, ACTION_ACCEPT, "python3 (.*/)?(?<app>[^/ ]+)\\.py", "${app}-py-script"),
        R(MATCH_CMDLINE, ACTION_ACCEPT, "java .* -jar /opt/(\\w+)/app\\.jar", "java-$1"),
        R(MATCH_CMDLINE, ACTION_ACCEPT, "^node /srv/(web1\\d\\d)/", "node-$1"),
        R(MATCH_CMDLINE, ACTION_DROP, "--config /etc/svc-2\\d\\d/", NULL),
        R(MATCH_CMDLINE, ACTION_ACCEPT, "--config /etc/(svc-3[0-4]\\d)/\\d+\\.conf", "$1"),
        R(MATCH_CMDLINE, ACTION_DROP, "--debug\\b", NULL),
        R(MATCH_CMDLINE, ACTION_ACCEPT, "gunicorn .*--bind [^ ]+:(\\d+)", "gunicorn-$1"),
        R(MATCH_CMDLINE, ACTION_ACCEPT, "celery -A (\\w+) worker", "celery-$1"),
        R(MATCH_CMDLINE, ACTION_ACCEPT, "php-fpm: pool (\\w+)", "php-$1"),
        R(MATCH_CMDLINE, ACTION_DROP, "^/usr/bin/ruby .*/bin/rake", NULL),
        R(MATCH_CMDLINE, ACTION_ACCEPT, "perl .*\\.cgi$", NULL),
        R(MATCH_CMDLINE, ACTION_ACCEPT, "--id 4\\d\\d\\d\\b", NULL),
        R(MATCH_PARENT_PROCESS_NAME, ACTION_ACCEPT, "^containerd-shim", NULL),
        R(MATCH_PARENT_PROCESS_NAME, ACTION_ACCEPT, "^supervisord$", NULL),
        R(MATCH_PARENT_PROCESS_NAME, ACTION_ACCEPT, "^gunicorn$", NULL),
        R(MATCH_PARENT_PROCESS_NAME, ACTION_DROP, "^sshd$", NULL),
        R(MATCH_PARENT_PROCESS_NAME, ACTION_ACCEPT, "^nginx$", NULL),
        R(MATCH_PARENT_PROCESS_NAME, ACTION_ACCEPT, "^celery$", NULL),
        R(MATCH_PARENT_PROCESS_NAME, ACTION_ACCEPT, "^svc-05\\d$", NULL),
        R(MATCH_PARENT_PROCESS_NAME, ACTION_DROP, "^dockerd$", NULL),
        R(MATCH_PARENT_PROCESS_NAME, ACTION_ACCEPT, "^php-fpm$", NULL),
        R(MATCH_PARENT_PROCESS_NAME, ACTION_ACCEPT, "^envoy$", NULL),
        R(MATCH_TAG, ACTION_ACCEPT, "^app:(svc-1\\d\\d)$", "$1"),
        R(MATCH_TAG, ACTION_DROP, "^team:t3$", NULL),
        R(MATCH_TAG, ACTION_ACCEPT, "^env:staging$", "staging-%HOSTNAME%"),
        R(MATCH_TAG, ACTION_ACCEPT, "^app:(?<a>svc-2\\d)$", "${a}"),
        R(MATCH_TAG, ACTION_DROP, "^team:t(1[01])$", NULL),
        R(MATCH_TAG, ACTION_ACCEPT, "^app:svc-3[0-5]\\d$", NULL),
        R(MATCH_PROCESS_NAME, ACTION_ACCEPT, "^svc-2[5-9]\\d$", "svc"),
        R(MATCH_PROCESS_NAME, ACTION_ACCEPT, "^(node|ruby|perl)$", NULL),
        R(MATCH_PROCESS_NAME, ACTION_DROP, "^svc-3[0-3]\\d$", NULL),
        R(MATCH_CMDLINE, ACTION_ACCEPT, "--port (8[0-2]\\d\\d)\\b", "port-$1"),
        R(MATCH_PARENT_PROCESS_NAME, ACTION_ACCEPT, "^haproxy$", NULL),
        R(MATCH_TAG, ACTION_ACCEPT, "^app:", NULL),
        R(MATCH_PROCESS_NAME, ACTION_DROP, ".*", NULL),
};

static int lookup(pid_t pid, void *userdata, pid_t *ret_ppid, const char **ret_comm) {
        const Proc *procs = userdata;

        if (pid < 1 || pid > N_PROCS)
                return -ESRCH;
        *ret_ppid = procs[pid - 1].ppid;
        *ret_comm = procs[pid - 1].comm;
        return 0;
}

/* One full pass; returns its duration and adds up the deciding rules. */
static usec_t pass(RuleSet *s, const Proc *procs, uint64_t *decided, uint64_t *accepted) {
        const char *parents[RULES_MAX_PARENT_DEPTH];
        usec_t t0 = now_usec(CLOCK_MONOTONIC);

        for (size_t i = 0; i < N_PROCS; i++) {
                const Proc *p = &procs[i];
                RuleInput in = {
                        .comm = p->comm,
                        .cmdline = p->cmdline,
                        .parents = parents,
                        .tags = p->tags,
                        .n_tags = p->n_tags,
                };
                RuleDecision d;

                in.n_parents = rules_walk_parents(p->pid, p->ppid, lookup, (void *) procs, parents,
                                                  ELEMENTSOF(parents));
                if (rule_set_decide(s, &in, &d) < 0)
                        abort();
                if (decided && d.rule >= 0)
                        decided[d.rule]++;
                if (accepted && d.action == ACTION_ACCEPT)
                        (*accepted)++;
                rule_decision_done(&d);
        }
        return now_usec(CLOCK_MONOTONIC) - t0;
}

static int cmp_usec(const void *a, const void *b) {
        usec_t x = *(const usec_t *) a, y = *(const usec_t *) b;

        return x < y ? -1 : x > y;
}

static void free_procs(Proc *procs) {
        for (size_t i = 0; i < N_PROCS; i++) {
                free(procs[i].cmdline);
                for (size_t t = 0; t < procs[i].n_tags && t < 2; t++)
                        free((char *) procs[i].tags[t].value);
        }
        free(procs);
}

static int scenario(RuleSet *s, bool worst) {
        uint64_t decided[ELEMENTSOF(rules) + 1] = {}, accepted = 0, through = 0;
        usec_t runs[N_RUNS];
        Proc *procs;

        procs = calloc(N_PROCS, sizeof(Proc));
        if (!procs)
                return -ENOMEM;
        make_procs(procs, worst);

        (void) pass(s, procs, decided, &accepted); /* warm-up; also the distribution below */
        for (size_t i = 0; i < N_RUNS; i++)
                runs[i] = pass(s, procs, NULL, NULL);
        qsort(runs, N_RUNS, sizeof(usec_t), cmp_usec);

        for (size_t i = 0; i < ELEMENTSOF(rules); i++)
                through += decided[i] * (i + 1);
        printf("%s:\n", worst ? "worst case, every process through all 50 rules"
                                : "mixed host (the figure in the README)");
        printf("  accepted %" PRIu64 ", decided by the final catch-all drop %" PRIu64
               ", rules evaluated per process %.1f on average\n",
               accepted, decided[ELEMENTSOF(rules) - 1], (double) through / N_PROCS);
        printf("  median %.2f ms (min %.2f, max %.2f) per full decision pass\n",
               (double) (runs[N_RUNS / 2 - 1] + runs[N_RUNS / 2]) / 2 / USEC_PER_MSEC,
               (double) runs[0] / USEC_PER_MSEC, (double) runs[N_RUNS - 1] / USEC_PER_MSEC);
        free_procs(procs);
        return 0;
}

int main(void) {
        _cleanup_(rule_set_freep) RuleSet *s = NULL;
        static char *env[] = { (char *) "HOSTNAME=bench", NULL };
        int r;

        _Static_assert(ELEMENTSOF(rules) == 50, "the benchmark is specified with 50 rules");

        r = rule_set_new(rules, ELEMENTSOF(rules), &s, NULL);
        if (r < 0) {
                fprintf(stderr, "rule_set_new: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        rule_set_set_env(s, template_env_strv, env);

        printf("bench-match: %d processes x %zu rules, median of %d passes\n", N_PROCS, ELEMENTSOF(rules),
               N_RUNS);
        if (scenario(s, false) < 0 || scenario(s, true) < 0)
                return EXIT_FAILURE;
        return EXIT_SUCCESS;
}
