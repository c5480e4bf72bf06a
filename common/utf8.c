/* See utf8.h. One decoder (utf8_char_len) serves both the check and the repair, so the two agree on what
 * is valid. */
#include "utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes available), or 0 when it is not valid. */
static size_t utf8_char_len(const unsigned char *s, size_t n) {
        uint32_t c;
        size_t len;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                len = 2, c = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                len = 3, c = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                len = 4, c = s[0] & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = (c << 6) | (s[i] & 0x3f);
        }
        if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)))
                return 0;
        if (c >= 0xd800 && c <= 0xdfff)
                return 0;
        return len;
}

bool utf8_is_valid(const char *s, size_t len) {
        const unsigned char *p = (const unsigned char *) s;

        for (size_t i = 0; i < len;) {
                size_t k = utf8_char_len(p + i, len - i);

                if (k == 0)
                        return false;
                i += k;
        }
        return true;
}

char *utf8_make_valid(const char *s, size_t len) {
        const unsigned char *p = (const unsigned char *) s;
        char *out, *o;

        /* Each invalid byte becomes at most 3 bytes (U+FFFD). */
        if (len > (SIZE_MAX - 1) / 3)
                return NULL;
        out = malloc(len * 3 + 1);
        if (!out)
                return NULL;
        o = out;
        for (size_t i = 0; i < len;) {
                size_t k = utf8_char_len(p + i, len - i);

                if (k == 0) {
                        memcpy(o, "\xef\xbf\xbd", 3);
                        o += 3;
                        i++;
                        continue;
                }
                memcpy(o, p + i, k);
                o += k;
                i += k;
        }
        *o = '\0';
        return out;
}
