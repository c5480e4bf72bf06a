/* Test helper run as the tag command by test-tag-exec: prints what the command sees of itself, one fact per
 * line, so the test can compare it with what DESIGN.md "Tags" promises. Reads /proc/self directly (a
 * shell or `ls` would open descriptors of their own and report those). */
#include <dirent.h>
#include <stdio.h>
#include <unistd.h>

#include "macro.h"

extern char **environ;

int main(int argc, char *argv[]) {
        static const char *const fields[] = {
                "Uid:",    "Gid:",    "Groups:",     "CapInh:", "CapPrm:", "CapEff:",
                "CapBnd:", "CapAmb:", "NoNewPrivs:", "SigBlk:", "SigIgn:"};
        char line[4096], path[4096], self[32];
        struct dirent *de;
        FILE *f;
        DIR *d;
        ssize_t n;

        f = fopen("/proc/self/status", "re");
        if (!f)
                return 2;
        while (fgets(line, sizeof(line), f))
                for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                        if (strneq(line, fields[i], strlen(fields[i])))
                                fputs(line, stdout);
        fclose(f);

        d = opendir("/proc/self/fd");
        if (!d)
                return 2;
        snprintf(self, sizeof(self), "%d", dirfd(d));
        fputs("fds:", stdout);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && !streq(de->d_name, self))
                        printf(" %s", de->d_name);
        putchar('\n');
        closedir(d);

        n = readlink("/proc/self/fd/0", path, sizeof(path) - 1);
        printf("stdin: %.*s\n", (int) (n < 0 ? 0 : n), path);
        printf("cwd: %s\n", getcwd(path, sizeof(path)) ? path : "?");
        printf("pid: %d sid: %d pgid: %d\n", (int) getpid(), (int) getsid(0), (int) getpgid(0));
        for (char **e = environ; *e; e++)
                printf("env: %s\n", *e);
        return 0;
}
