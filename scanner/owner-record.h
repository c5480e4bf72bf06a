/* The record the BPF owner iterator (owner-iter.bpf.c) writes and owner-bpf.c reads: shared by both
 * sides, so fixed-width types only and no padding. */
#pragma once

struct owner_record {
        __u32 pid;   /* in the scanner's pid namespace */
        __u32 zero;  /* padding, always 0 */
        __u64 inode; /* socket inode, as in "socket:[INODE]" */
};
