#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reads GstDmakitRoiMeta from an appsink through GObject-Introspection.

An appsrc pushes I420 frames tagged with rectangles (added from Python through
the GstDmakit-1.0 typelib) into videoconvert ! videoscale (halving) ! appsink.
The test reads the rectangles back from the pulled samples, the way an
application would, and checks they were rescaled, plus the text form, the
error path and the bridges. Exit status: 0 pass, 1 fail, 77 skip (no PyGObject
or GStreamer typelibs on this machine)."""

import sys
import unittest

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstVideo", "1.0")
    gi.require_version("GstApp", "1.0")
    from gi.repository import GLib, Gst, GstApp, GstVideo  # noqa: F401
except (ImportError, ValueError) as exc:
    print(f"SKIP: PyGObject or the GStreamer typelibs are missing: {exc}")
    sys.exit(77)

# Our typelib must be there whenever this test is declared: no skip for it.
gi.require_version("GstDmakit", "1.0")
from gi.repository import GstDmakit  # noqa: E402

W, H = 320, 240
TAGS = "crop#0:10,20,100x80;face#1<0:40,30,64x64;edge#2:300,200,20x40"
# each edge halved, rounded half up
HALVED = "crop#0:5,10,50x40;face#1<0:20,15,32x32;edge#2:150,100,10x20"
N_FRAMES = 4


def run_pipeline(desc, tag_buffer):
    """Pushes N_FRAMES tagged frames through desc, returns the pulled samples."""
    pipeline = Gst.parse_launch(desc)
    src = pipeline.get_by_name("src")
    sink = pipeline.get_by_name("sink")
    info = GstVideo.VideoInfo()
    info.set_format(GstVideo.VideoFormat.I420, W, H)
    src.set_property("caps", info.to_caps())
    src.set_property("format", Gst.Format.TIME)
    assert pipeline.set_state(Gst.State.PLAYING) != Gst.StateChangeReturn.FAILURE
    for i in range(N_FRAMES):
        buf = Gst.Buffer.new_allocate(None, info.size, None)
        buf.pts = i * Gst.SECOND // 30
        buf.duration = Gst.SECOND // 30
        tag_buffer(buf, i)
        assert src.emit("push-buffer", buf) == Gst.FlowReturn.OK
    src.emit("end-of-stream")
    samples = []
    while True:
        sample = sink.try_pull_sample(10 * Gst.SECOND)
        if sample is None:
            break
        samples.append(sample)
    msg = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if msg is not None:
        err, dbg = msg.parse_error()
        raise AssertionError(f"pipeline error: {err.message} ({dbg})")
    assert sink.is_eos(), "timed out before EOS"
    return samples


def tag_from_text(buf, i):
    assert GstDmakit.buffer_add_dmakit_roi_metas_from_string(buf, TAGS)


class RoiMetaFromPython(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        Gst.init(None)

    def test_read_from_appsink_after_scale(self):
        desc = ("appsrc name=src ! videoconvert ! video/x-raw,format=RGBx "
                "! videoscale ! video/x-raw,width=160,height=120 "
                "! appsink name=sink sync=false")
        samples = run_pipeline(desc, tag_from_text)
        self.assertEqual(len(samples), N_FRAMES)
        for sample in samples:
            buf = sample.get_buffer()
            # VideoInfo, not caps.get_structure(): GStreamer 1.26's overrides
            # wrap that structure in a context manager without get_value()
            info = GstVideo.VideoInfo.new_from_caps(sample.get_caps())
            self.assertEqual((info.width, info.height), (160, 120))
            # iterate: a list in id order, fields readable
            metas = GstDmakit.buffer_get_dmakit_roi_metas(buf, None)
            got = [(m.get_type_name(), m.id, m.parent_id, m.x, m.y, m.w, m.h) for m in metas]
            self.assertEqual(got, [
                ("crop", 0, -1, 5, 10, 50, 40),
                ("face", 1, 0, 20, 15, 32, 32),
                ("edge", 2, -1, 150, 100, 10, 20),
            ])
            self.assertEqual(metas[1].roi_type, GLib.quark_from_string("face"))
            # count + index getter, filtered by type
            self.assertEqual(GstDmakit.buffer_get_n_dmakit_roi_metas(buf, None), 3)
            self.assertEqual(GstDmakit.buffer_get_n_dmakit_roi_metas(buf, "face"), 1)
            face = GstDmakit.buffer_get_nth_dmakit_roi_meta(buf, "face", 0)
            self.assertEqual((face.x, face.y, face.w, face.h), (20, 15, 32, 32))
            self.assertIsNone(GstDmakit.buffer_get_nth_dmakit_roi_meta(buf, "face", 1))
            # find by type and id
            self.assertEqual(GstDmakit.buffer_get_dmakit_roi_meta(buf, None, 2).get_type_name(),
                             "edge")
            self.assertIsNone(GstDmakit.buffer_get_dmakit_roi_meta(buf, "crop", 2))
            # the text form
            self.assertEqual(GstDmakit.buffer_dmakit_roi_metas_to_string(buf), HALVED)
            self.assertEqual(face.to_string(), "face#1<0:20,15,32x32")

    def test_added_with_the_c_api_from_python(self):
        def tag(buf, i):
            crop = GstDmakit.buffer_add_dmakit_roi_meta(buf, GstDmakit.ROI_TYPE_CROP,
                                                        0, 0, 2 * (i + 1), 2 * (i + 1))
            self.assertEqual(crop.id, 0)
            child = GstDmakit.buffer_add_dmakit_roi_meta_full(buf, "face", 5, crop.id,
                                                              100, 100, 10, 10)
            self.assertEqual((child.id, child.parent_id), (5, 0))
            # a taken id is refused
            self.assertIsNone(GstDmakit.buffer_add_dmakit_roi_meta_full(buf, "face", 5, -1,
                                                                        0, 0, 1, 1))

        samples = run_pipeline("appsrc name=src ! videoscale ! video/x-raw,width=160,height=120 "
                               "! appsink name=sink sync=false", tag)
        for i, sample in enumerate(samples):
            self.assertEqual(GstDmakit.buffer_dmakit_roi_metas_to_string(sample.get_buffer()),
                             f"crop#0:0,0,{i + 1}x{i + 1};face#5<0:50,50,5x5")

    def test_parse_error_raises(self):
        buf = Gst.Buffer.new()
        with self.assertRaises(GLib.Error) as ctx:
            GstDmakit.buffer_add_dmakit_roi_metas_from_string(buf, "face:1,2,3x")
        self.assertIn("at byte 11:", ctx.exception.message)
        self.assertTrue(ctx.exception.matches(GstDmakit.error_quark(), GstDmakit.Error.PARSE))
        self.assertEqual(GstDmakit.buffer_get_n_dmakit_roi_metas(buf, None), 0)

    def test_crop_helper_and_bridge(self):
        buf = Gst.Buffer.new()
        GstDmakit.buffer_add_dmakit_roi_metas_from_string(buf, TAGS)
        self.assertEqual(GstDmakit.buffer_dmakit_roi_metas_crop(buf, 20, 20, 100, 100), 1)
        self.assertEqual(GstDmakit.buffer_dmakit_roi_metas_to_string(buf),
                         "crop#0:0,0,90x80;face#1<0:20,10,64x64")
        face = GstDmakit.buffer_get_dmakit_roi_meta(buf, "face", -1)
        vcrop = face.to_video_crop_meta(buf)
        self.assertEqual((vcrop.x, vcrop.y, vcrop.width, vcrop.height), (20, 10, 64, 64))


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
