#include "common/mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int flx_map_file(flx_mapped_file *file, const char *path, flx_error *err) {
    memset(file, 0, sizeof *file);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return flx_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return flx_fail(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return flx_fail(err, "%s: not a regular file", path);
    }
    file->size = (size_t)st.st_size;
    if (file->size == 0) {
        close(fd);
        return 0;
    }
    void *p = mmap(NULL, file->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
        close(fd);
        file->data = p;
        file->is_mmap = 1;
        return 0;
    }
    /* Fall back to reading, for file systems without mmap. */
    uint8_t *buf = flx_malloc(file->size, err);
    if (!buf) {
        close(fd);
        return -1;
    }
    size_t done = 0;
    while (done < file->size) {
        ssize_t n = read(fd, buf + done, file->size - done);
        if (n <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            return flx_fail(err, "%s: read failed at byte %zu: %s", path, done,
                            n == 0 ? "unexpected end of file" : strerror(e));
        }
        done += (size_t)n;
    }
    close(fd);
    file->data = buf;
    return 0;
}

void flx_unmap_file(flx_mapped_file *file) {
    if (file->data) {
        if (file->is_mmap)
            munmap((void *)file->data, file->size);
        else
            free((void *)file->data);
    }
    memset(file, 0, sizeof *file);
}

char *flx_read_text_file(const char *path, size_t *size_out, flx_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        flx_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = flx_malloc(cap, err);
    if (!buf) {
        fclose(f);
        return NULL;
    }
    for (;;) {
        if (len + 1 >= cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                fclose(f);
                flx_fail(err, "%s: out of memory reading %zu bytes", path, cap * 2);
                return NULL;
            }
            buf = grown;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - 1 - len, f);
        len += n;
        if (n == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        flx_fail(err, "%s: read error", path);
        return NULL;
    }
    buf[len] = '\0';
    if (size_out) *size_out = len;
    return buf;
}
