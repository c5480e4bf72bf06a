/* SHA-256 against the FIPS 180-2 / NIST example vectors, and incremental updates split at every offset
 * (the block-buffer path) giving the same digest as one update. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "macro.h"
#include "sha256.h"

static void hex_of(const void *data, size_t len, char out[SHA256_HEX_SIZE]) {
        uint8_t d[SHA256_DIGEST_SIZE];
        Sha256 s;

        sha256_init(&s);
        sha256_update(&s, data, len);
        sha256_final(&s, d);
        sha256_to_hex(d, out);
}

static void test_vectors(void **state) {
        static const struct {
                const char *in;
                const char *out;
        } v[] = {
                {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
                {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
                {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
                {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlm"
                 "nopqrs"
                 "mnopqrstnopqrstu",
                 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
                /* 55, 56 and 64 bytes: the padding edge cases (length fits / does not fit in the last
                   block). */
                {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                 "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
                {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                 "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
                {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                 "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        };
        char out[SHA256_HEX_SIZE];

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                hex_of(v[i].in, strlen(v[i].in), out);
                assert_string_equal(out, v[i].out);
        }
}

static void test_million_a(void **state) {
        uint8_t d[SHA256_DIGEST_SIZE];
        char out[SHA256_HEX_SIZE], chunk[1000];
        Sha256 s;

        memset(chunk, 'a', sizeof(chunk));
        sha256_init(&s);
        for (unsigned i = 0; i < 1000; i++)
                sha256_update(&s, chunk, sizeof(chunk));
        sha256_final(&s, d);
        sha256_to_hex(d, out);
        assert_string_equal(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_split_updates(void **state) {
        char msg[200], whole[SHA256_HEX_SIZE], part[SHA256_HEX_SIZE];

        for (size_t i = 0; i < sizeof(msg); i++)
                msg[i] = (char) (i * 7 + 3);
        hex_of(msg, sizeof(msg), whole);
        for (size_t cut = 0; cut <= sizeof(msg); cut++) {
                uint8_t d[SHA256_DIGEST_SIZE];
                Sha256 s;

                sha256_init(&s);
                sha256_update(&s, msg, cut);
                sha256_update(&s, msg + cut, sizeof(msg) - cut);
                sha256_final(&s, d);
                sha256_to_hex(d, part);
                assert_string_equal(part, whole);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vectors),
                cmocka_unit_test(test_million_a),
                cmocka_unit_test(test_split_updates),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
