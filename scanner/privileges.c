/* See privileges.h. Raw capget/capset (linux/capability.h, version 3: two 32-bit words per set) rather than
 * libcap: three calls do not justify a dependency. The bounding set is reduced first, while CAP_SETPCAP is
 * still effective; capset then leaves the five capabilities in the permitted and effective sets only. The
 * scanner never execs, so the inheritable and ambient sets are emptied and no_new_privs set as a second
 * line of defence. */
#include "privileges.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"

static const struct {
        int cap;
        unsigned bit;
        const char *name;
} keep[] = {
        { CAP_SYS_PTRACE, PRIVILEGE_SYS_PTRACE, "CAP_SYS_PTRACE" },
        { CAP_DAC_READ_SEARCH, PRIVILEGE_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH" },
        { CAP_SYS_ADMIN, PRIVILEGE_SYS_ADMIN, "CAP_SYS_ADMIN" },
        { CAP_BPF, PRIVILEGE_BPF, "CAP_BPF" },
        { CAP_PERFMON, PRIVILEGE_PERFMON, "CAP_PERFMON" },
};

const char *privileges_missing_to_string(unsigned missing) {
        static char buf[160];

        buf[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(keep); i++)
                if (missing & keep[i].bit) {
                        if (buf[0])
                                strcat(buf, " ");
                        strcat(buf, keep[i].name);
                }
        return buf;
}

int privileges_drop(Privileges *ret) {
        struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
        Privileges p = {};
        uint64_t permitted, effective, want = 0;

        if (syscall(SYS_capget, &header, data) < 0)
                return negative_errno();
        permitted = data[0].permitted | (uint64_t) data[1].permitted << 32;
        effective = data[0].effective | (uint64_t) data[1].effective << 32;
        p.had_any = permitted != 0;
        for (size_t i = 0; i < ELEMENTSOF(keep); i++) {
                want |= UINT64_C(1) << keep[i].cap;
                if (!(permitted & (UINT64_C(1) << keep[i].cap)))
                        p.missing |= keep[i].bit;
        }

        if (effective & (UINT64_C(1) << CAP_SETPCAP)) {
                for (int cap = 0; cap < 64; cap++) {
                        int r = prctl(PR_CAPBSET_READ, (unsigned long) cap, 0, 0, 0);

                        if (r < 0)
                                break; /* EINVAL: past the kernel's last capability */
                        if (r == 1 && !(want & (UINT64_C(1) << cap)) &&
                            prctl(PR_CAPBSET_DROP, (unsigned long) cap, 0, 0, 0) < 0)
                                return negative_errno();
                }
                p.bounding = true;
        }

        /* Before Linux 4.3 there is no ambient set (EINVAL): then there is nothing to clear. */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return negative_errno();

        permitted &= want;
        for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
                data[i].permitted = data[i].effective = (uint32_t) (permitted >> (32 * i));
                data[i].inheritable = 0;
        }
        if (syscall(SYS_capset, &header, data) < 0)
                return negative_errno();

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return negative_errno();

        *ret = p;
        return 0;
}
