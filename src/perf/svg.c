#include "perf/svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "perf/hbm_map.h"

/* Writes text with the XML special characters escaped. */
static void write_escaped(FILE *f, const char *text) {
    for (; *text; text++) {
        switch (*text) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*text, f);
        }
    }
}

/* A plot area in pixels and its data ranges (log10 of the data on log axes). */
typedef struct axes {
    double x0, y0, w, h;
    double xmin, xmax, ymin, ymax;
    int log_x, log_y;
} axes;

static double px(const axes *a, double x) {
    double v = a->log_x ? log10(x) : x;
    return a->x0 + (v - a->xmin) / (a->xmax - a->xmin) * a->w;
}

static double py(const axes *a, double y) {
    double v = a->log_y ? log10(y) : y;
    return a->y0 + a->h - (v - a->ymin) / (a->ymax - a->ymin) * a->h;
}

static void frame(FILE *f, const axes *a, const char *title, const char *x_label, const char *y_label) {
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n", a->x0,
            a->y0, a->w, a->h);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\">%s</text>\n", a->x0 + a->w / 2,
            a->y0 - 10, title);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", a->x0 + a->w / 2, a->y0 + a->h + 36,
            x_label);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 %.1f %.1f)\">%s</text>\n",
            a->x0 - 48, a->y0 + a->h / 2, a->x0 - 48, a->y0 + a->h / 2, y_label);
    for (int i = 0; i <= 4; i++) {
        double fx = a->xmin + (a->xmax - a->xmin) * i / 4, fy = a->ymin + (a->ymax - a->ymin) * i / 4;
        double vx = a->log_x ? pow(10, fx) : fx, vy = a->log_y ? pow(10, fy) : fy;
        double sx = a->x0 + a->w * i / 4, sy = a->y0 + a->h - a->h * i / 4;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", sx, a->y0, sx,
                a->y0 + a->h);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", a->x0, sy,
                a->x0 + a->w, sy);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.3g</text>\n", sx, a->y0 + a->h + 16, vx);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", a->x0 - 4, sy + 4, vy);
    }
}

static double objective_value(flx_objective o, const flx_dse_point *p) {
    return o == FLX_OBJECTIVE_LATENCY  ? p->end_to_end_s
           : o == FLX_OBJECTIVE_DECODE ? p->decode_tokens_per_s
                                       : p->energy_per_token_j;
}

static void widen(double *lo, double *hi) {
    double span = *hi - *lo;
    if (span <= 0) span = fabs(*hi) > 0 ? fabs(*hi) : 1;
    *lo -= 0.05 * span;
    *hi += 0.05 * span;
}

static void draw_front(FILE *f, const flx_dse_result *r, const flx_dse_point *ref) {
    flx_objective o = r->objective;
    axes a = {70, 50, 400, 300, 1e9, -1e9, 1e9, -1e9, 0, 0};
    const flx_dse_point *sets[2] = {r->cloud, r->front};
    int counts[2] = {r->n_cloud, r->n_front};
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < counts[s]; i++) {
            double x = 100 * sets[s][i].utilization, y = objective_value(o, &sets[s][i]);
            a.xmin = fmin(a.xmin, x), a.xmax = fmax(a.xmax, x), a.ymin = fmin(a.ymin, y), a.ymax = fmax(a.ymax, y);
        }
    if (ref) {
        a.xmin = fmin(a.xmin, 100 * ref->utilization), a.xmax = fmax(a.xmax, 100 * ref->utilization);
        a.ymin = fmin(a.ymin, objective_value(o, ref)), a.ymax = fmax(a.ymax, objective_value(o, ref));
    }
    widen(&a.xmin, &a.xmax);
    widen(&a.ymin, &a.ymax);
    const char *y_label = o == FLX_OBJECTIVE_LATENCY  ? "end-to-end latency (s)"
                          : o == FLX_OBJECTIVE_DECODE ? "decode throughput (tokens/s)"
                                                      : "energy per generated token (J)";
    frame(f, &a, "Pareto front", "peak resource utilization (% of the device)", y_label);
    for (int i = 0; i < r->n_cloud; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"#bbb\"/>\n", px(&a, 100 * r->cloud[i].utilization),
                py(&a, objective_value(o, &r->cloud[i])));
    fprintf(f, "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"");
    for (int i = 0; i < r->n_front; i++)
        fprintf(f, "%.1f,%.1f ", px(&a, 100 * r->front[i].utilization), py(&a, objective_value(o, &r->front[i])));
    fprintf(f, "\"/>\n");
    for (int i = 0; i < r->n_front; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#1f5fbf\"/>\n", px(&a, 100 * r->front[i].utilization),
                py(&a, objective_value(o, &r->front[i])));
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"none\" stroke=\"#c00\" stroke-width=\"2\"/>\n",
            px(&a, 100 * r->best.utilization), py(&a, objective_value(o, &r->best)));
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#c00\">best</text>\n", px(&a, 100 * r->best.utilization) + 8,
            py(&a, objective_value(o, &r->best)) + 4);
    if (ref) {
        double x = px(&a, 100 * ref->utilization), y = py(&a, objective_value(o, ref));
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"8\" fill=\"#000\"/>\n", x - 4, y - 4);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", x + 8, y + 4);
        write_escaped(f, ref->cfg.name);
        fputs("</text>\n", f);
    }
}

/* Operations (2 per MAC), HBM bytes and seconds of both engines of cfg. */
typedef struct roof_point {
    double ops[2], bytes[2], seconds[2], peak_ops[2];
} roof_point;

static int measure(const flx_device *dev, const flx_perf_model *m, flx_workload w, const flx_accel_config *in,
                   roof_point *out) {
    flx_accel_config cfg = *in;
    flx_error ignored;
    if (flx_hbm_resolve(dev, &cfg, &ignored) != 0) return -1;
    flx_engine_estimate e;
    int n = w.input_tokens - 1 > 0 ? w.input_tokens - 1 : 1;
    out->seconds[0] = flx_perf_prefill_seconds(dev, &cfg, m, n, 0, &e);
    out->bytes[0] = e.hbm_bytes;
    out->ops[0] = 2 * flx_perf_prefill_macs(m, n);
    out->seconds[1] = flx_perf_decode_seconds(dev, &cfg, m, w.input_tokens - 1, w.output_tokens, 0, &e);
    out->bytes[1] = e.hbm_bytes;
    out->ops[1] = 2 * flx_perf_decode_macs(m, w.input_tokens - 1, w.output_tokens);
    const flx_prefill_config *p = &cfg.prefill;
    const flx_decode_config *d = &cfg.decode;
    out->peak_ops[0] = 2.0 * p->tp * (2.0 * p->wp_qkvo + 3.0 * p->wp_ffn + p->kp + p->vp) * dev->prefill_clock_mhz * 1e6;
    out->peak_ops[1] = 2.0 * ((double)d->bp * d->wp + (double)d->hp * (d->kp + d->vp)) * dev->decode_clock_mhz * 1e6;
    return 0;
}

static void draw_roofline(FILE *f, const flx_device *dev, const flx_perf_model *m, const flx_dse_result *r,
                          const flx_dse_point *ref) {
    roof_point pts[2];
    const flx_dse_point *designs[2] = {&r->best, ref};
    const char *labels[2] = {"best", ref ? ref->cfg.name : ""};
    int n = ref ? 2 : 1;
    for (int i = 0; i < n; i++)
        if (measure(dev, m, r->workload, &designs[i]->cfg, &pts[i]) != 0) return;
    double bw = dev->hbm_channels * dev->hbm_channel_gbps * 1e9 * dev->port_efficiency;
    axes a = {580, 50, 400, 300, -1, 4, 9, 14, 1, 1};
    frame(f, &a, "Roofline (HBM)", "operations per HBM byte", "operations per second");
    /* Memory roof, then each design's compute roof. */
    double x_lo = pow(10, a.xmin), x_hi = pow(10, a.xmax);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\" stroke-dasharray=\"4 3\"/>\n",
            px(&a, x_lo), py(&a, fmax(bw * x_lo, 1e9)), px(&a, fmin(x_hi, 1e14 / bw)), py(&a, fmin(bw * x_hi, 1e14)));
    const char *colors[2] = {"#c00", "#000"};
    for (int i = 0; i < n; i++)
        for (int e = 0; e < 2; e++) {
            double peak = pts[i].peak_ops[e], knee = peak / bw;
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-opacity=\"0.4\"/>\n",
                    px(&a, fmax(knee, x_lo)), py(&a, peak), px(&a, x_hi), py(&a, peak), colors[i]);
            double x = pts[i].ops[e] / pts[i].bytes[e], y = pts[i].ops[e] / pts[i].seconds[e];
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/>\n", px(&a, x), py(&a, y), colors[i]);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">", px(&a, x) + 8, py(&a, y) - 6, colors[i]);
            write_escaped(f, labels[i]);
            fprintf(f, " %s</text>\n", e ? "decode" : "prefill");
        }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">HBM %.0f GB/s sustained</text>\n", a.x0 + 8, a.y0 + 16, bw / 1e9);
}

int flx_svg_write_dse(const char *path, const flx_device *dev, const flx_perf_model *m, const flx_dse_result *r,
                      const flx_dse_point *reference, flx_error *err) {
    FILE *f = fopen(path, "w");
    if (!f) return flx_fail(err, "cannot write the SVG file '%s': check the folder exists and is writable", path);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1020\" height=\"420\" font-family=\"sans-serif\" "
               "font-size=\"11\">\n");
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
    fprintf(f, "<text x=\"510\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">");
    write_escaped(f, dev->name);
    fputs(", ", f);
    write_escaped(f, m->name);
    fprintf(f, ", workload %d:%d, objective %s</text>\n", r->workload.input_tokens, r->workload.output_tokens,
            flx_objective_name(r->objective));
    draw_front(f, r, reference);
    draw_roofline(f, dev, m, r, reference);
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0) return flx_fail(err, "writing the SVG file '%s' failed (disk full?)", path);
    return 0;
}
