/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dmakit with a real V4L2 driver (vivid) and GStreamer's own v4l2src/v4l2sink.
 *
 *  - capture-imports-our-pool: `v4l2src io-mode=dmabuf-import ! dmakitsink`.
 *    vivid captures INTO DMA-BUFs of the GstDmakitBufferPool dmakitsink
 *    proposes; the file equals what `v4l2src io-mode=mmap ! filesink` writes.
 *  - foreign-dmabuf-crop-by-meta: `v4l2src io-mode=dmabuf ! dmakitcrop !
 *    dmakitsink`. vivid's exported DMA-BUFs are cropped by meta (no copy); the
 *    file equals `v4l2src io-mode=mmap ! videocrop ! filesink` (even and odd
 *    left edges).
 *  - output-imports-our-pool: `videotestsrc ! dmakitcrop mode=copy !
 *    v4l2sink io-mode=dmabuf-import`: vivid's output device consumes the
 *    DMA-BUFs dmakitcrop copies into (its own GstDmakitBufferPool).
 *  - output-loopback-pixels: the same output pipeline, with vivid's HDMI input
 *    connected to its HDMI output: the frames captured on the input are
 *    byte-for-byte the frames we fed from our pool.
 *
 * Pixel comparisons: vivid's test pattern is static when its OSD text (time,
 * counters) is off and nothing moves, so every frame of a capture is the same
 * picture and two captures of the same configuration are byte-identical. The
 * controls are set through v4l2src's extra-controls and read back after the
 * run; each capture must also be non-trivial (many distinct byte values) and
 * have identical frames.
 *
 * The vivid nodes are found with VIDIOC_QUERYCAP (driver "vivid"), not by
 * number. Without them (any normal host) the test prints why and exits 77;
 * the real-kernel tier (tests/vm/run) loads vivid and runs it for real. */
#include <gst/app/gstappsink.h>
#include <gst/check/gstcheck.h>
#include <gst/dmakit/dmakit.h>
#include <gst/video/video.h>

#include <glib/gstdio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/v4l2-dv-timings.h>
#include <linux/videodev2.h>

#define N_FRAMES 8
#define CAP_W 640
#define CAP_H 360
#define CAP_CAPS "video/x-raw,format=YUY2,width=640,height=360"
/* Every vivid control that changes the capture from frame to frame, off. */
#define STATIC_PATTERN "extra-controls=\"c,osd_text_mode=2,horizontal_movement=3," \
    "vertical_movement=3,test_pattern=0\""
/* The output side: 720x576 progressive, through vivid's HDMI output. */
#define OUT_W 720
#define OUT_H 576
#define OUT_FRAME_SIZE (OUT_W * 2 * OUT_H)
#define OUT_SRC "videotestsrc pattern=colors"
#define OUT_SRC_CAPS "video/x-raw,format=YUY2,width=736,height=592,framerate=50/1," \
    "colorimetry=bt601"
#define OUT_CROP "left=16 right=0 top=10 bottom=6"
#define N_OUT_FRAMES 12

/* The vivid nodes, found in main(). */
static gchar *cap_node;
static gchar *out_node;

/* ---- V4L2 helpers -------------------------------------------------------- */

static int
xioctl (int fd, unsigned long req, void *arg)
{
  int r;
  do {
    r = ioctl (fd, req, arg);
  } while (r < 0 && errno == EINTR);
  return r;
}

static int
open_node (const gchar * path)
{
  int fd = open (path, O_RDWR | O_CLOEXEC);
  fail_unless (fd >= 0, "cannot open %s: %s", path, g_strerror (errno));
  return fd;
}

/* The first /dev/video* whose driver is vivid and that has @caps. */
static gchar *
find_vivid_node (guint32 caps)
{
  DIR *dir = opendir ("/dev");
  if (!dir)
    return NULL;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  struct dirent *de;
  while ((de = readdir (dir)))
    if (g_str_has_prefix (de->d_name, "video"))
      g_ptr_array_add (names, g_strdup (de->d_name));
  closedir (dir);
  /* video0, video1, ... video10: by number, not by name */
  gchar *found = NULL;
  gint best = G_MAXINT;
  for (guint i = 0; i < names->len; i++) {
    const gchar *name = g_ptr_array_index (names, i);
    gchar *end = NULL;
    gint64 n = g_ascii_strtoll (name + 5, &end, 10);
    if (!end || *end || end == name + 5 || n >= best)
      continue;
    gchar *path = g_strconcat ("/dev/", name, NULL);
    int fd = open (path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
    struct v4l2_capability cap;
    memset (&cap, 0, sizeof cap);
    if (fd >= 0 && xioctl (fd, VIDIOC_QUERYCAP, &cap) == 0) {
      guint32 dcaps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps
          : cap.capabilities;
      if (strcmp ((const char *) cap.driver, "vivid") == 0 && (dcaps & caps)) {
        g_free (found);
        found = g_strdup (path);
        best = (gint) n;
      }
    }
    if (fd >= 0)
      close (fd);
    g_free (path);
  }
  g_ptr_array_unref (names);
  return found;
}

/* The id of the control called @name, or 0. */
static guint32
find_ctrl (int fd, const gchar * name)
{
  struct v4l2_queryctrl q;
  memset (&q, 0, sizeof q);
  q.id = V4L2_CTRL_FLAG_NEXT_CTRL;
  while (xioctl (fd, VIDIOC_QUERYCTRL, &q) == 0) {
    if (strcmp ((const char *) q.name, name) == 0)
      return q.id;
    q.id |= V4L2_CTRL_FLAG_NEXT_CTRL;
  }
  return 0;
}

static gint
get_ctrl (const gchar * node, const gchar * name)
{
  int fd = open_node (node);
  guint32 id = find_ctrl (fd, name);
  fail_unless (id != 0, "%s has no control \"%s\"", node, name);
  struct v4l2_control c = { .id = id };
  fail_unless (xioctl (fd, VIDIOC_G_CTRL, &c) == 0, "VIDIOC_G_CTRL(%s) on %s: %s", name, node,
      g_strerror (errno));
  close (fd);
  return c.value;
}

static void
set_ctrl_id (int fd, guint32 id, gint value, const gchar * what)
{
  struct v4l2_control c = { .id = id, .value = value };
  fail_unless (xioctl (fd, VIDIOC_S_CTRL, &c) == 0, "VIDIOC_S_CTRL(%s=%d): %s", what, value,
      g_strerror (errno));
}

/* Index of the menu item of control @id whose name is @item, or -1. */
static gint
find_menu_item (int fd, guint32 id, const gchar * item)
{
  struct v4l2_queryctrl q = { .id = id };
  if (xioctl (fd, VIDIOC_QUERYCTRL, &q) < 0 || q.type != V4L2_CTRL_TYPE_MENU)
    return -1;
  for (gint i = q.minimum; i <= q.maximum; i++) {
    struct v4l2_querymenu m = { .id = id, .index = (guint32) i };
    if (xioctl (fd, VIDIOC_QUERYMENU, &m) == 0 && strcmp ((const char *) m.name, item) == 0)
      return i;
  }
  return -1;
}

typedef enum
{
  IFACE_WEBCAM,
  IFACE_HDMI,
} Iface;

/* Selects the first input (capture node) or output (output node) of kind
 * @kind; returns the previous index. @name receives its name. */
static gint
select_iface (int fd, gboolean output, Iface kind, gchar ** name)
{
  gint old = -1, found = -1;
  fail_unless (xioctl (fd, output ? VIDIOC_G_OUTPUT : VIDIOC_G_INPUT, &old) == 0,
      "VIDIOC_G_%s: %s", output ? "OUTPUT" : "INPUT", g_strerror (errno));
  for (guint32 i = 0; found < 0; i++) {
    guint32 caps;
    const char *iname;
    gboolean camera;
    struct v4l2_input in = { .index = i };
    struct v4l2_output out = { .index = i };
    if (output) {
      if (xioctl (fd, VIDIOC_ENUMOUTPUT, &out) < 0)
        break;
      caps = out.capabilities;
      iname = (const char *) out.name;
      camera = FALSE;
    } else {
      if (xioctl (fd, VIDIOC_ENUMINPUT, &in) < 0)
        break;
      caps = in.capabilities;
      iname = (const char *) in.name;
      camera = in.type == V4L2_INPUT_TYPE_CAMERA;
    }
    /* vivid: HDMI has DV timings; S-Video and TV have standards; the webcam
     * is a camera with neither */
    gboolean hdmi = (caps & V4L2_IN_CAP_DV_TIMINGS) != 0;
    gboolean webcam = camera && !(caps & (V4L2_IN_CAP_DV_TIMINGS | V4L2_IN_CAP_STD));
    if ((kind == IFACE_HDMI && hdmi) || (kind == IFACE_WEBCAM && webcam)) {
      found = (gint) i;
      if (name)
        *name = g_strdup (iname);
    }
  }
  fail_unless (found >= 0, "vivid has no %s %s (vivid's input_types/output_types)",
      kind == IFACE_HDMI ? "HDMI" : "webcam", output ? "output" : "input");
  fail_unless (xioctl (fd, output ? VIDIOC_S_OUTPUT : VIDIOC_S_INPUT, &found) == 0,
      "VIDIOC_S_%s(%d): %s", output ? "OUTPUT" : "INPUT", found, g_strerror (errno));
  return old;
}

static void
restore_iface (const gchar * node, gboolean output, gint index)
{
  if (index < 0)
    return;
  int fd = open (node, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return;
  if (xioctl (fd, output ? VIDIOC_S_OUTPUT : VIDIOC_S_INPUT, &index) < 0)
    GST_WARNING ("could not restore %s %d of %s: %s", output ? "output" : "input", index, node,
        g_strerror (errno));
  close (fd);
}

/* The capture node on its webcam input (what the capture tests expect, even
 * after the loopback test switched it to HDMI). */
static void
use_webcam_input (void)
{
  int fd = open_node (cap_node);
  select_iface (fd, FALSE, IFACE_WEBCAM, NULL);
  close (fd);
}

static void
set_dv_timings_720x576p50 (int fd, const gchar * node)
{
  struct v4l2_dv_timings t = V4L2_DV_BT_CEA_720X576P50;
  fail_unless (xioctl (fd, VIDIOC_S_DV_TIMINGS, &t) == 0,
      "VIDIOC_S_DV_TIMINGS(720x576p50) on %s: %s", node, g_strerror (errno));
  struct v4l2_dv_timings got;
  memset (&got, 0, sizeof got);
  fail_unless (xioctl (fd, VIDIOC_G_DV_TIMINGS, &got) == 0);
  fail_unless (got.bt.width == OUT_W && got.bt.height == OUT_H && !got.bt.interlaced,
      "%s kept %ux%u%s timings", node, got.bt.width, got.bt.height, got.bt.interlaced ? "i" : "p");
}

/* vivid's output node on its HDMI output at 720x576p50; returns the previous
 * output. @name receives the HDMI output's name. */
static gint
use_hdmi_output (gchar ** name)
{
  int fd = open_node (out_node);
  gint old = select_iface (fd, TRUE, IFACE_HDMI, name);
  set_dv_timings_720x576p50 (fd, out_node);
  close (fd);
  return old;
}

/* How the capture node's HDMI input was connected before we connected it. */
typedef struct
{
  gint old_input;
  guint32 ctrl;                 /* "Is Connected To" (6.11+) or "Loop Video" (older) */
  gint old_value;
} Loopback;

/* Connects vivid's HDMI input to its HDMI output @out_name, both 720x576p50:
 * frames queued on the output are then copied into the capture buffers. */
static Loopback
connect_hdmi_loopback (const gchar * out_name)
{
  Loopback lb = { -1, 0, 0 };
  gchar *in_name = NULL;
  int fd = open_node (cap_node);
  lb.old_input = select_iface (fd, FALSE, IFACE_HDMI, &in_name);
  set_dv_timings_720x576p50 (fd, cap_node);
  /* Linux 6.11+: "<input> Is Connected To" = "Output <output>"; before that
   * a "Loop Video" switch looped the instance's output to its input. */
  gchar *ctrl_name = g_strdup_printf ("%s Is Connected To", in_name);
  gint value = 1;
  lb.ctrl = find_ctrl (fd, ctrl_name);
  if (lb.ctrl) {
    gchar *item = g_strdup_printf ("Output %s", out_name);
    value = find_menu_item (fd, lb.ctrl, item);
    fail_unless (value >= 0, "control \"%s\" of %s offers no \"%s\"", ctrl_name, cap_node, item);
    g_free (item);
  } else {
    lb.ctrl = find_ctrl (fd, "Loop Video");
    fail_unless (lb.ctrl != 0, "%s has neither \"%s\" nor \"Loop Video\": no loopback", cap_node,
        ctrl_name);
  }
  struct v4l2_control c = { .id = lb.ctrl };
  fail_unless (xioctl (fd, VIDIOC_G_CTRL, &c) == 0);
  lb.old_value = c.value;
  set_ctrl_id (fd, lb.ctrl, value, ctrl_name);
  g_print ("  %s (%s) connected to %s (%s): control %08x = %d\n", cap_node, in_name, out_node,
      out_name, lb.ctrl, value);
  g_free (ctrl_name);
  g_free (in_name);
  close (fd);
  return lb;
}

static void
disconnect_loopback (const Loopback * lb)
{
  int fd = open (cap_node, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return;
  struct v4l2_control c = { .id = lb->ctrl, .value = lb->old_value };
  if (lb->ctrl && xioctl (fd, VIDIOC_S_CTRL, &c) < 0)
    GST_WARNING ("could not restore control %08x: %s", lb->ctrl, g_strerror (errno));
  close (fd);
  restore_iface (cap_node, FALSE, lb->old_input);
}

/* ---- GStreamer helpers ----------------------------------------------------- */

/* Timeouts scale like libcheck's (CK_TIMEOUT_MULTIPLIER: 4 under TCG). */
static GstClockTime
timeout (guint seconds)
{
  const gchar *m = g_getenv ("CK_TIMEOUT_MULTIPLIER");
  guint mult = m ? (guint) MAX (1, atoi (m)) : 1;
  return (GstClockTime) seconds * mult * GST_SECOND;
}

static GstElement *
parse (const gchar * desc)
{
  GError *err = NULL;
  GstElement *p = gst_parse_launch (desc, &err);
  fail_unless (p != NULL && err == NULL, "cannot build \"%s\": %s", desc,
      err ? err->message : "?");
  return p;
}

static GstElement *
by_name (GstElement * pipeline, const gchar * name)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), name);
  fail_unless (e != NULL, "no element %s", name);
  return e;
}

/* Fails with the error message if @msg is an error. */
static void
fail_if_error (GstMessage * msg, const gchar * desc)
{
  if (!msg || GST_MESSAGE_TYPE (msg) != GST_MESSAGE_ERROR)
    return;
  GError *err = NULL;
  gchar *dbg = NULL;
  gst_message_parse_error (msg, &err, &dbg);
  fail ("%s\n  error from %s: %s\n  %s", desc, GST_MESSAGE_SRC_NAME (msg), err->message,
      dbg ? dbg : "");
}

/* Waits for EOS (failing on an error or a timeout) and sets NULL. */
static void
wait_eos (GstElement * pipeline, const gchar * desc)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, timeout (60),
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "%s\n  no EOS within %" GST_TIME_FORMAT, desc,
      GST_TIME_ARGS (timeout (60)));
  fail_if_error (msg, desc);
  gst_message_unref (msg);
  gst_object_unref (bus);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_NULL) == GST_STATE_CHANGE_SUCCESS);
}

/* Runs @desc to EOS; returns the stopped pipeline (transfer full). */
static GstElement *
run (const gchar * desc)
{
  GstElement *p = parse (desc);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE,
      "%s: cannot go to PLAYING", desc);
  wait_eos (p, desc);
  return p;
}

static guint64
stat_u64 (GstElement * pipeline, const gchar * element, const gchar * field)
{
  GstElement *e = by_name (pipeline, element);
  GstStructure *st = NULL;
  g_object_get (e, "stats", &st, NULL);
  fail_unless (st != NULL);
  guint64 v = 0;
  fail_unless (gst_structure_get_uint64 (st, field, &v), "no %s in %" GST_PTR_FORMAT, field, st);
  gst_structure_free (st);
  gst_object_unref (e);
  return v;
}

static gchar *
stat_str (GstElement * pipeline, const gchar * element, const gchar * field)
{
  GstElement *e = by_name (pipeline, element);
  GstStructure *st = NULL;
  g_object_get (e, "stats", &st, NULL);
  fail_unless (st != NULL);
  gchar *v = g_strdup (gst_structure_get_string (st, field));
  fail_unless (v != NULL, "no %s in %" GST_PTR_FORMAT, field, st);
  gst_structure_free (st);
  gst_object_unref (e);
  return v;
}

/* What reached a pad: counted on the streaming thread, read after the
 * pipeline stopped (or with atomics while it runs). */
typedef struct
{
  gint buffers;
  gint dmabuf;                  /* every memory is a DMA-BUF */
  gint dmakit_memory;           /* ... from a dmakit allocator */
  gint dmakit_pool;             /* buffer->pool is a GstDmakitBufferPool */
  gint v4l2_pool;               /* buffer->pool is v4l2's own (GstV4l2BufferPool) */
  gint crop_ok;                 /* carries the expected GstVideoCropMeta */
  guint crop_x, crop_y, crop_w, crop_h;
  GstBufferPool *first_pool;    /* not a reference: compared only */
  gint same_pool;
} Probe;

static GstPadProbeReturn
probe_cb (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  (void) pad;
  Probe *p = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  guint n = gst_buffer_n_memory (buf);
  gboolean dmabuf = n > 0, dmakit = n > 0;
  for (guint i = 0; i < n; i++) {
    GstMemory *m = gst_buffer_peek_memory (buf, i);
    dmabuf = dmabuf && gst_is_dmabuf_memory (m);
    dmakit = dmakit && gst_is_dmakit_memory (m);
  }
  if (dmabuf)
    g_atomic_int_inc (&p->dmabuf);
  if (dmakit)
    g_atomic_int_inc (&p->dmakit_memory);
  if (buf->pool && GST_DMAKIT_IS_BUFFER_POOL (buf->pool))
    g_atomic_int_inc (&p->dmakit_pool);
  if (buf->pool && g_str_equal (G_OBJECT_TYPE_NAME (buf->pool), "GstV4l2BufferPool"))
    g_atomic_int_inc (&p->v4l2_pool);
  if (g_atomic_int_get (&p->buffers) == 0)
    p->first_pool = buf->pool;
  if (buf->pool && buf->pool == p->first_pool)
    g_atomic_int_inc (&p->same_pool);
  GstVideoCropMeta *cm = gst_buffer_get_video_crop_meta (buf);
  if (cm && cm->x == p->crop_x && cm->y == p->crop_y && cm->width == p->crop_w
      && cm->height == p->crop_h)
    g_atomic_int_inc (&p->crop_ok);
  g_atomic_int_inc (&p->buffers);
  return GST_PAD_PROBE_OK;
}

/* Counts what enters element @name of @pipeline. */
static void
add_probe (GstElement * pipeline, const gchar * name, Probe * p)
{
  GstElement *e = by_name (pipeline, name);
  GstPad *pad = gst_element_get_static_pad (e, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, probe_cb, p, NULL);
  gst_object_unref (pad);
  gst_object_unref (e);
}

/* ---- files and frames -------------------------------------------------------- */

static gchar *
make_tmpdir (void)
{
  GError *err = NULL;
  gchar *dir = g_dir_make_tmp ("dmakit-v4l2-XXXXXX", &err);
  fail_unless (dir != NULL, "%s", err ? err->message : "?");
  return dir;
}

static void
remove_tmpdir (gchar * dir, const gchar * const *files)
{
  for (; *files; files++) {
    gchar *path = g_build_filename (dir, *files, NULL);
    g_unlink (path);
    g_free (path);
  }
  g_rmdir (dir);
  g_free (dir);
}

static GBytes *
read_bytes (const gchar * path)
{
  gchar *data = NULL;
  gsize len = 0;
  GError *err = NULL;
  fail_unless (g_file_get_contents (path, &data, &len, &err), "cannot read %s: %s", path,
      err ? err->message : "?");
  return g_bytes_new_take (data, len);
}

/* Fails unless @a and @b are byte-identical, saying where they differ. */
static void
assert_same_bytes (GBytes * a, GBytes * b, gsize frame_size, const gchar * what)
{
  gsize la, lb;
  const guint8 *pa = g_bytes_get_data (a, &la), *pb = g_bytes_get_data (b, &lb);
  fail_unless_equals_uint64 (la, lb);
  for (gsize i = 0; i < la; i++)
    if (pa[i] != pb[i])
      fail ("%s: first difference at byte %" G_GSIZE_FORMAT " (frame %" G_GSIZE_FORMAT
          ", offset %" G_GSIZE_FORMAT "): %u vs %u", what, i, i / frame_size, i % frame_size,
          pa[i], pb[i]);
}

/* Every frame of @file equals the first, and the picture is not trivial:
 * what makes a byte comparison between two captures meaningful. */
static void
assert_static_nontrivial (GBytes * file, gsize frame_size, guint n_frames, const gchar * what)
{
  gsize len;
  const guint8 *d = g_bytes_get_data (file, &len);
  fail_unless_equals_uint64 (len, (guint64) frame_size * n_frames);
  for (guint f = 1; f < n_frames; f++)
    fail_unless (memcmp (d, d + f * frame_size, frame_size) == 0,
        "%s: frame %u differs from frame 0: vivid's pattern is not static (OSD text or "
        "movement still on?)", what, f);
  gboolean seen[256] = { FALSE };
  guint distinct = 0;
  for (gsize i = 0; i < frame_size; i++)
    if (!seen[d[i]]) {
      seen[d[i]] = TRUE;
      distinct++;
    }
  fail_unless (distinct >= 8, "%s: only %u distinct byte values: not a test pattern", what,
      distinct);
}

static void
assert_static_controls (void)
{
  fail_unless_equals_int (get_ctrl (cap_node, "OSD Text Mode"), 2);
  fail_unless_equals_int (get_ctrl (cap_node, "Horizontal Movement"), 3);
  fail_unless_equals_int (get_ctrl (cap_node, "Vertical Movement"), 3);
}

/* ---- 1: vivid captures into our pool ---------------------------------------- */

GST_START_TEST (test_capture_imports_our_pool)
{
  use_webcam_input ();
  gchar *dir = make_tmpdir ();
  gchar *ours = g_build_filename (dir, "import.yuv", NULL);
  gchar *ref = g_build_filename (dir, "mmap.yuv", NULL);
  const gsize frame = CAP_W * 2 * CAP_H;

  gchar *desc = g_strdup_printf ("v4l2src device=%s io-mode=dmabuf-import num-buffers=%d "
      STATIC_PATTERN " ! " CAP_CAPS " ! dmakitsink name=sink location=%s", cap_node, N_FRAMES,
      ours);
  GstElement *p = parse (desc);
  Probe probe = { 0 };
  add_probe (p, "sink", &probe);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  wait_eos (p, desc);
  assert_static_controls ();

  /* Each buffer vivid filled is a DMA-BUF of a dmakit allocator, in the
   * GstDmakitBufferPool dmakitsink proposed: vivid imported our memory. */
  fail_unless_equals_int (probe.buffers, N_FRAMES);
  fail_unless_equals_int (probe.dmabuf, N_FRAMES);
  fail_unless_equals_int (probe.dmakit_memory, N_FRAMES);
  fail_unless_equals_int (probe.dmakit_pool, N_FRAMES);
  fail_unless_equals_int (probe.v4l2_pool, 0);
  fail_unless_equals_int (probe.same_pool, N_FRAMES);
  fail_unless_equals_uint64 (stat_u64 (p, "sink", "zero-copy"), N_FRAMES);
  fail_unless_equals_uint64 (stat_u64 (p, "sink", "written"), N_FRAMES);
  fail_unless_equals_uint64 (stat_u64 (p, "sink", "copies"), 0);
  gchar *backend = stat_str (p, "sink", "backend");
  fail_if (g_str_equal (backend, "memfd") || g_str_equal (backend, "none"),
      "dmakitsink's pool is not DMA-BUF memory (backend %s)", backend);
  g_print ("  capture: vivid filled %d DMA-BUFs of dmakitsink's GstDmakitBufferPool (%s)\n",
      probe.buffers, backend);
  g_free (backend);
  gst_object_unref (p);
  g_free (desc);

  desc = g_strdup_printf ("v4l2src device=%s io-mode=mmap num-buffers=%d " STATIC_PATTERN
      " ! " CAP_CAPS " ! filesink location=%s", cap_node, N_FRAMES, ref);
  gst_object_unref (run (desc));
  g_free (desc);

  GBytes *a = read_bytes (ours), *b = read_bytes (ref);
  assert_static_nontrivial (b, frame, N_FRAMES, "v4l2src io-mode=mmap");
  assert_same_bytes (a, b, frame, "dmabuf-import into dmakitsink vs mmap into filesink");
  g_print ("  capture: %d frames byte-identical to v4l2src io-mode=mmap ! filesink\n", N_FRAMES);
  g_bytes_unref (a);
  g_bytes_unref (b);
  g_free (ours);
  g_free (ref);
  remove_tmpdir (dir, (const gchar *[]) { "import.yuv", "mmap.yuv", NULL });
}
GST_END_TEST;

/* ---- 2: vivid's DMA-BUFs cropped by meta ------------------------------------ */

static void
crop_foreign_dmabuf (guint left, guint right, guint top, guint bottom, gboolean sink_copies)
{
  use_webcam_input ();
  gchar *dir = make_tmpdir ();
  gchar *ours = g_build_filename (dir, "crop.yuv", NULL);
  gchar *ref = g_build_filename (dir, "videocrop.yuv", NULL);
  const guint w = CAP_W - left - right, h = CAP_H - top - bottom;
  GstVideoInfo out_info;
  fail_unless (gst_video_info_set_format (&out_info, GST_VIDEO_FORMAT_YUY2, w, h));
  const gsize frame = GST_VIDEO_INFO_SIZE (&out_info);
  gchar *crop = g_strdup_printf ("left=%u right=%u top=%u bottom=%u", left, right, top, bottom);

  gchar *desc = g_strdup_printf ("v4l2src device=%s io-mode=dmabuf num-buffers=%d "
      STATIC_PATTERN " ! " CAP_CAPS " ! dmakitcrop name=crop %s ! dmakitsink name=sink "
      "location=%s", cap_node, N_FRAMES, crop, ours);
  GstElement *p = parse (desc);
  Probe probe = { 0 };
  probe.crop_x = left;
  probe.crop_y = top;
  probe.crop_w = w;
  probe.crop_h = h;
  add_probe (p, "sink", &probe);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  wait_eos (p, desc);
  assert_static_controls ();

  /* vivid's own (exported) DMA-BUFs reach the sink untouched, carrying the
   * crop rectangle as a GstVideoCropMeta. */
  fail_unless_equals_int (probe.buffers, N_FRAMES);
  fail_unless_equals_int (probe.dmabuf, N_FRAMES);
  fail_unless_equals_int (probe.dmakit_memory, 0);
  fail_unless_equals_int (probe.dmakit_pool, 0);
  fail_unless_equals_int (probe.v4l2_pool, N_FRAMES);
  fail_unless_equals_int (probe.crop_ok, N_FRAMES);
  gchar *path = stat_str (p, "crop", "path");
  fail_unless_equals_string (path, "meta");
  g_free (path);
  fail_unless_equals_uint64 (stat_u64 (p, "crop", "frames"), N_FRAMES);
  fail_unless_equals_uint64 (stat_u64 (p, "crop", "zero-copy-frames"), N_FRAMES);
  fail_unless_equals_uint64 (stat_u64 (p, "crop", "copied-frames"), 0);
  fail_unless_equals_uint64 (stat_u64 (p, "crop", "bytes-copied"), 0);
  fail_unless_equals_uint64 (stat_u64 (p, "sink", "zero-copy"), N_FRAMES);
  fail_unless_equals_uint64 (stat_u64 (p, "sink", "written"), N_FRAMES);
  /* An odd left edge of YUY2 moves the luma samples (as videocrop does):
   * dmakitsink rebuilds those rows in its writer thread. */
  fail_unless_equals_uint64 (stat_u64 (p, "sink", "copies"), sink_copies ? N_FRAMES : 0);
  gst_object_unref (p);
  g_free (desc);

  desc = g_strdup_printf ("v4l2src device=%s io-mode=mmap num-buffers=%d " STATIC_PATTERN
      " ! " CAP_CAPS " ! videocrop %s ! filesink location=%s", cap_node, N_FRAMES, crop, ref);
  gst_object_unref (run (desc));
  g_free (desc);

  GBytes *a = read_bytes (ours), *b = read_bytes (ref);
  assert_static_nontrivial (b, frame, N_FRAMES, "v4l2src io-mode=mmap ! videocrop");
  gchar *what = g_strdup_printf ("dmakitcrop %s by meta on vivid's DMA-BUFs vs videocrop", crop);
  assert_same_bytes (a, b, frame, what);
  g_print ("  crop %s: %d of vivid's DMA-BUFs cropped by meta, byte-identical to videocrop\n",
      crop, N_FRAMES);
  g_free (what);
  g_bytes_unref (a);
  g_bytes_unref (b);
  g_free (crop);
  g_free (ours);
  g_free (ref);
  remove_tmpdir (dir, (const gchar *[]) { "crop.yuv", "videocrop.yuv", NULL });
}

GST_START_TEST (test_foreign_dmabuf_crop_by_meta)
{
  crop_foreign_dmabuf (8, 24, 6, 10, FALSE);
}
GST_END_TEST;

GST_START_TEST (test_foreign_dmabuf_crop_odd_left)
{
  crop_foreign_dmabuf (5, 23, 3, 9, TRUE);
}
GST_END_TEST;

/* ---- 3: vivid's output consumes our DMA-BUFs -------------------------------- */

static gchar *
output_desc (gint num_buffers)
{
  gchar *nb = num_buffers > 0 ? g_strdup_printf ("num-buffers=%d ", num_buffers) : g_strdup ("");
  gchar *desc = g_strdup_printf (OUT_SRC " %s! " OUT_SRC_CAPS " ! "
      "dmakitcrop name=crop mode=copy " OUT_CROP " ! v4l2sink name=sink device=%s "
      "io-mode=dmabuf-import sync=false", nb, out_node);
  g_free (nb);
  return desc;
}

/* What vivid must show: the cropped test frame, in the default layout. */
static GBytes *
expected_output_frame (void)
{
  GstElement *p = parse (OUT_SRC " num-buffers=1 ! " OUT_SRC_CAPS
      " ! videocrop " OUT_CROP " ! appsink name=out");
  GstElement *sink = by_name (p, "out");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  GstSample *s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), timeout (30));
  fail_unless (s != NULL, "no reference frame");
  GstVideoInfo info;
  fail_unless (gst_video_info_from_caps (&info, gst_sample_get_caps (s)));
  fail_unless (GST_VIDEO_INFO_WIDTH (&info) == OUT_W && GST_VIDEO_INFO_HEIGHT (&info) == OUT_H);
  GstVideoFrame vf;
  fail_unless (gst_video_frame_map (&vf, &info, gst_sample_get_buffer (s), GST_MAP_READ));
  guint8 *out = g_malloc (OUT_FRAME_SIZE);
  for (guint y = 0; y < OUT_H; y++)
    memcpy (out + (gsize) y * OUT_W * 2, (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&vf, 0)
        + (gsize) y * GST_VIDEO_FRAME_PLANE_STRIDE (&vf, 0), OUT_W * 2);
  gst_video_frame_unmap (&vf);
  gst_sample_unref (s);
  gst_object_unref (sink);
  fail_unless (gst_element_set_state (p, GST_STATE_NULL) == GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);
  return g_bytes_new_take (out, OUT_FRAME_SIZE);
}

/* The buffers v4l2sink got were dmakitcrop's copies: DMA-BUFs of its own
 * GstDmakitBufferPool (v4l2sink in dmabuf-import mode offers no pool). */
static void
assert_output_buffers_ours (GstElement * p, const Probe * probe, gint n)
{
  fail_unless_equals_int (probe->buffers, n);
  fail_unless_equals_int (probe->dmabuf, n);
  fail_unless_equals_int (probe->dmakit_memory, n);
  fail_unless_equals_int (probe->dmakit_pool, n);
  fail_unless_equals_int (probe->same_pool, n);
  gchar *path = stat_str (p, "crop", "path");
  fail_unless_equals_string (path, "copy");
  g_free (path);
  fail_unless_equals_uint64 (stat_u64 (p, "crop", "copied-frames"), (guint64) n);
}

GST_START_TEST (test_output_imports_our_pool)
{
  gchar *out_name = NULL;
  gint old_output = use_hdmi_output (&out_name);
  gchar *desc = output_desc (N_OUT_FRAMES);
  GstElement *p = parse (desc);
  Probe probe = { 0 };
  add_probe (p, "sink", &probe);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  /* v4l2sink imports each buffer (VIDIOC_QBUF with its fd): a buffer that
   * is not a DMA-BUF would be an error, not a silent copy. */
  wait_eos (p, desc);
  assert_output_buffers_ours (p, &probe, N_OUT_FRAMES);
  g_print ("  output: vivid's %s consumed %d DMA-BUFs of dmakitcrop's GstDmakitBufferPool\n",
      out_name, probe.buffers);
  gst_object_unref (p);
  g_free (desc);
  g_free (out_name);
  restore_iface (out_node, TRUE, old_output);
}
GST_END_TEST;

GST_START_TEST (test_output_loopback_pixels)
{
  GBytes *expected = expected_output_frame ();
  gchar *out_name = NULL;
  gint old_output = use_hdmi_output (&out_name);
  Loopback lb = connect_hdmi_loopback (out_name);

  /* Feed our frames to the output until the capture has seen them. */
  gchar *out_desc = output_desc (-1);
  GstElement *out = parse (out_desc);
  Probe probe = { 0 };
  add_probe (out, "sink", &probe);
  fail_unless (gst_element_set_state (out, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  GstBus *out_bus = gst_element_get_bus (out);
  const gint64 deadline = g_get_monotonic_time () + (gint64) (timeout (60) / GST_USECOND);
  while (g_atomic_int_get (&probe.buffers) < 3) {
    GstMessage *m = gst_bus_timed_pop_filtered (out_bus, 20 * GST_MSECOND, GST_MESSAGE_ERROR);
    fail_if_error (m, out_desc);
    fail_unless (g_get_monotonic_time () < deadline, "the output pipeline does not stream");
  }

  /* vivid copies the output buffer at the head of its queue into each
   * capture buffer once both sides match (720x576 YUYV, progressive);
   * before that it captures noise. */
  const gint n_cap = 100;
  gchar *cap_desc = g_strdup_printf ("v4l2src device=%s io-mode=mmap num-buffers=%d "
      "extra-controls=\"c,osd_text_mode=2\" ! video/x-raw,format=YUY2,width=%d,height=%d ! "
      "appsink name=out sync=false", cap_node, n_cap, OUT_W, OUT_H);
  GstElement *cap = parse (cap_desc);
  GstElement *appsink = by_name (cap, "out");
  fail_unless (gst_element_set_state (cap, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  gint captured = 0, matched = 0, first_match = -1;
  guint closest = OUT_H;        /* fewest rows differing from what we fed */
  GstSample *s;
  while (matched < 3 && (s = gst_app_sink_try_pull_sample (GST_APP_SINK (appsink),
              timeout (20)))) {
    GstBuffer *b = gst_sample_get_buffer (s);
    GstVideoInfo info;
    fail_unless (gst_video_info_from_caps (&info, gst_sample_get_caps (s)));
    GstVideoFrame vf;
    fail_unless (gst_video_frame_map (&vf, &info, b, GST_MAP_READ));
    const guint8 *exp = g_bytes_get_data (expected, NULL);
    guint rows_differ = 0;
    for (guint y = 0; y < OUT_H; y++)
      rows_differ += memcmp ((guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&vf, 0)
          + (gsize) y * GST_VIDEO_FRAME_PLANE_STRIDE (&vf, 0), exp + (gsize) y * OUT_W * 2,
          OUT_W * 2) != 0;
    gst_video_frame_unmap (&vf);
    const gboolean same = rows_differ == 0;
    closest = MIN (closest, rows_differ);
    gst_sample_unref (s);
    if (same && first_match < 0)
      first_match = captured;
    matched += same;
    captured++;
  }
  GstMessage *m = gst_bus_pop_filtered (GST_ELEMENT_BUS (cap), GST_MESSAGE_ERROR);
  fail_if_error (m, cap_desc);
  fail_unless (gst_element_set_state (cap, GST_STATE_NULL) == GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (appsink);
  gst_object_unref (cap);
  g_print ("  loopback: %d frames captured, %d equal to the frames fed, the first at #%d\n",
      captured, matched, first_match);
  fail_unless (matched > 0, "none of the %d frames captured on %s (looped from %s) equals the "
      "frames fed from our DMA-BUFs (the closest differs in %u of %u rows)", captured, cap_node,
      out_node, closest, OUT_H);

  /* Stop the output: EOS, no error, and every buffer was ours. */
  fail_unless (gst_element_send_event (out, gst_event_new_eos ()));
  wait_eos (out, out_desc);
  gst_object_unref (out_bus);
  gint fed = g_atomic_int_get (&probe.buffers);
  assert_output_buffers_ours (out, &probe, fed);
  gst_object_unref (out);
  g_free (out_desc);
  g_free (cap_desc);
  g_bytes_unref (expected);
  disconnect_loopback (&lb);
  restore_iface (out_node, TRUE, old_output);
  g_free (out_name);
}
GST_END_TEST;

static Suite *
v4l2_interop_suite (void)
{
  Suite *s = suite_create ("dmakit-v4l2-interop");
  TCase *tc = tcase_create ("vivid");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_capture_imports_our_pool);
  tcase_add_test (tc, test_foreign_dmabuf_crop_by_meta);
  tcase_add_test (tc, test_foreign_dmabuf_crop_odd_left);
  tcase_add_test (tc, test_output_imports_our_pool);
  tcase_add_test (tc, test_output_loopback_pixels);
  return s;
}

int
main (int argc, char **argv)
{
  gst_check_init (&argc, &argv);
  cap_node = find_vivid_node (V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_CAPTURE_MPLANE);
  out_node = find_vivid_node (V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_VIDEO_OUTPUT_MPLANE);
  if (!cap_node || !out_node) {
    g_print ("SKIP: no vivid %s node in /dev/video* (load the vivid module with a capture and "
        "an output node, e.g. node_types=0x101; tests/vm/run does)\n",
        !cap_node && !out_node ? "capture or output" : !cap_node ? "capture" : "output");
    return 77;
  }
  const gchar *needed[] = { "v4l2src", "v4l2sink", "videocrop", "videotestsrc", "appsink",
    "dmakitcrop", "dmakitsink", NULL
  };
  for (const gchar ** n = needed; *n; n++) {
    GstElementFactory *f = gst_element_factory_find (*n);
    if (!f) {
      g_print ("SKIP: element %s is not available (GStreamer's video4linux2 plugin missing?)\n",
          *n);
      return 77;
    }
    gst_object_unref (f);
  }
  g_print ("vivid capture node %s, output node %s\n", cap_node, out_node);
  return gst_check_run_suite (v4l2_interop_suite (), "dmakit-v4l2-interop", __FILE__);
}
