#include "tokenizer/gpt2_bytes.h"

/* The 68 bytes without a printable spelling are 0x00-0x20 (33 bytes),
 * 0x7F-0xA0 (34 bytes) and 0xAD, numbered 0..67 in that order. */
uint32_t flx_gpt2_byte_to_codepoint(uint8_t b) {
    if (b <= 0x20) return 0x100 + b;
    if (b >= 0x7F && b <= 0xA0) return 0x100 + 33 + (uint32_t)(b - 0x7F);
    if (b == 0xAD) return 0x100 + 67;
    return b;
}

int flx_gpt2_codepoint_to_byte(uint32_t cp) {
    if (cp < 0x100) return flx_gpt2_byte_to_codepoint((uint8_t)cp) == cp ? (int)cp : -1;
    if (cp > 0x100 + 67) return -1;
    uint32_t n = cp - 0x100;
    if (n < 33) return (int)n;
    if (n < 67) return (int)(0x7F + n - 33);
    return 0xAD;
}

/* Code points of the table fit in two UTF-8 bytes. */
static size_t put_utf8(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

size_t flx_gpt2_spell(const uint8_t *bytes, size_t n, char *out) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += put_utf8(flx_gpt2_byte_to_codepoint(bytes[i]), out + len);
    out[len] = '\0';
    return len;
}

long flx_gpt2_unspell(const char *spelling, size_t len, uint8_t *out) {
    const uint8_t *s = (const uint8_t *)spelling;
    long n = 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        if (s[i] < 0x80) {
            cp = s[i];
            i += 1;
        } else if ((s[i] & 0xE0) == 0xC0 && i + 1 < len && (s[i + 1] & 0xC0) == 0x80) {
            cp = ((uint32_t)(s[i] & 0x1F) << 6) | (s[i + 1] & 0x3F);
            if (cp < 0x80) return -1; /* overlong form */
            i += 2;
        } else {
            return -1; /* longer sequences encode code points above U+0143 */
        }
        int b = flx_gpt2_codepoint_to_byte(cp);
        if (b < 0) return -1;
        out[n++] = (uint8_t)b;
    }
    return n;
}
