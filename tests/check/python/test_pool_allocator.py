#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The buffer pool and the allocators from Python, through the GstDmakit-1.0
typelib: the calls docs/bufferpool.md and docs/allocator.md show, as an
application makes them.

Exit status: 0 pass, 1 fail, 77 skip (no PyGObject or GStreamer typelibs on
this machine)."""

import sys
import unittest

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstAllocators", "1.0")
    from gi.repository import GLib, Gst, GstAllocators
except (ImportError, ValueError) as exc:
    print(f"SKIP: PyGObject or the GStreamer typelibs are missing: {exc}")
    sys.exit(77)

# Our typelib must be there whenever this test is declared: no skip for it.
gi.require_version("GstDmakit", "1.0")
from gi.repository import GstDmakit  # noqa: E402


def stat(structure, field):
    """A guint64 field of a stats structure."""
    ok, value = structure.get_uint64(field)
    assert ok, f"no guint64 field {field} in {structure.to_string()}"
    return value


class AllocatorFromPython(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        Gst.init(None)

    def test_memfd_fallback_has_the_methods(self):
        # the memfd fallback is a GstFdAllocator, not a GstDmaBufAllocator,
        # yet it answers the same methods as the DMA-BUF allocator
        alloc = GstDmakit.Allocator.new(GstDmakit.Backend.MEMFD, None)
        self.assertIsInstance(alloc, GstDmakit.FdAllocator)
        self.assertNotIsInstance(alloc, GstDmakit.Allocator)
        self.assertIsInstance(alloc, GstDmakit.BackendAllocator)
        self.assertEqual(alloc.get_backend(), GstDmakit.Backend.MEMFD)
        self.assertIsNone(alloc.get_device())
        self.assertFalse(alloc.get_lock_memory())
        alloc.set_lock_memory(True)
        self.assertTrue(alloc.get_lock_memory())
        alloc.set_lock_memory(False)
        mem, pitch = alloc.alloc_2d(100, 10, 32)
        self.assertEqual(pitch, 448)  # 400 bytes rounded up to 64
        self.assertEqual(mem.size, 448 * 10)
        self.assertTrue(GstDmakit.is_dmakit_memory(mem))
        self.assertEqual(alloc.get_sync_count(), 0)
        stats = alloc.get_stats()
        self.assertEqual(stats.get_name(), "dmakit-allocator-stats")
        self.assertEqual(stats.get_string("backend"), "memfd")
        self.assertEqual(stat(stats, "outstanding"), 1)
        del mem

    def test_auto_returns_either_kind_with_the_same_methods(self):
        alloc = GstDmakit.Allocator.new(GstDmakit.Backend.AUTO, None)
        self.assertIsInstance(alloc, GstDmakit.BackendAllocator)
        backend = alloc.get_backend()
        self.assertNotEqual(backend, GstDmakit.Backend.AUTO)
        # the DMA-BUF kind and the memfd kind, never mixed up
        self.assertEqual(isinstance(alloc, GstDmakit.FdAllocator),
                         backend == GstDmakit.Backend.MEMFD)
        self.assertGreaterEqual(stat(alloc.get_stats(), "allocated"), 0)

    def test_bad_backend_raises(self):
        with self.assertRaises(GLib.Error) as ctx:
            GstDmakit.Allocator.new(GstDmakit.Backend.DMA_HEAP, "/nonexistent/heap")
        self.assertTrue(ctx.exception.matches(GstDmakit.error_quark(), GstDmakit.Error.DEVICE))
        self.assertIn("/nonexistent/heap", ctx.exception.message)

    def test_enum_nicks_and_descriptions(self):
        # what gst-inspect shows: kebab-case nick and a readable description
        self.assertEqual(GstDmakit.Backend.DRM_DUMB.value_nick, "drm-dumb")
        self.assertFalse(GstDmakit.Backend.DRM_DUMB.value_name.startswith("GST_"))
        self.assertEqual(GstDmakit.TimeoutAction.FAIL.value_nick, "fail")
        self.assertFalse(GstDmakit.TimeoutAction.FAIL.value_name.startswith("GST_"))


class PoolFromPython(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        Gst.init(None)

    def make_pool(self, alloc, size=4096, min_buffers=2, max_buffers=4):
        pool = GstDmakit.BufferPool.new()
        config = pool.get_config()
        Gst.BufferPool.config_set_params(config, None, size, min_buffers, max_buffers)
        Gst.BufferPool.config_set_allocator(config, alloc, None)
        GstDmakit.BufferPool.config_set_low_watermark(config, 1)
        GstDmakit.BufferPool.config_set_acquire_timeout(config, 50 * Gst.MSECOND)
        GstDmakit.BufferPool.config_set_timeout_action(config, GstDmakit.TimeoutAction.FAIL)
        self.assertTrue(pool.set_config(config))
        return pool

    def test_acquire_release_and_stats(self):
        alloc = GstDmakit.Allocator.new(GstDmakit.Backend.MEMFD, None)
        pool = self.make_pool(alloc)
        self.assertTrue(pool.set_active(True))
        ret, buf = pool.acquire_buffer(None)
        self.assertEqual(ret, Gst.FlowReturn.OK)
        self.assertTrue(GstDmakit.is_dmakit_memory(buf.peek_memory(0)))
        first_fd = GstAllocators.fd_memory_get_fd(buf.peek_memory(0))
        del buf  # back to the pool
        ret, again = pool.acquire_buffer(None)
        self.assertEqual(ret, Gst.FlowReturn.OK)
        # the buffer released last comes back first: same memfd
        self.assertEqual(GstAllocators.fd_memory_get_fd(again.peek_memory(0)), first_fd)
        stats = pool.get_stats()
        self.assertEqual(stats.get_name(), GstDmakit.BUFFER_POOL_STATS)
        self.assertEqual(stat(stats, "acquires"), 2)
        self.assertEqual(stat(stats, "releases"), 1)
        self.assertEqual(stat(stats, "outstanding"), 1)
        ok, size = stats.get_uint("size")
        self.assertTrue(ok)
        self.assertEqual(size, 4096)
        # the static form keeps working
        self.assertEqual(stat(GstDmakit.BufferPool.get_stats(pool), "acquires"), 2)
        del again
        self.assertTrue(pool.set_active(False))

    def test_element_gets_the_timeout_warning(self):
        alloc = GstDmakit.Allocator.new(GstDmakit.Backend.MEMFD, None)
        pool = self.make_pool(alloc, min_buffers=1, max_buffers=1)
        pipeline = Gst.Pipeline.new("pipeline")
        owner = Gst.Bin.new("owner")
        pipeline.add(owner)
        self.assertIsNone(pool.get_element())
        pool.set_element(owner)
        self.assertEqual(pool.get_element(), owner)
        self.assertTrue(pool.set_active(True))
        ret, held = pool.acquire_buffer(None)
        self.assertEqual(ret, Gst.FlowReturn.OK)
        # exhausted: waits 50 ms, warns on the owner's bus, fails (action FAIL)
        ret, _ = pool.acquire_buffer(None)
        self.assertEqual(ret, Gst.FlowReturn.ERROR)
        msg = pipeline.get_bus().pop_filtered(Gst.MessageType.WARNING)
        self.assertIsNotNone(msg)
        self.assertEqual(msg.src, owner)
        err, _debug = msg.parse_warning()
        self.assertIn("ran out of buffers", err.message)
        del held
        self.assertTrue(pool.set_active(False))
        pool.set_element(None)
        self.assertIsNone(pool.get_element())

    def test_refused_config_proposes(self):
        # set_config FALSE: the pool's config holds the corrected proposal
        pool = GstDmakit.BufferPool.new()
        config = pool.get_config()
        Gst.BufferPool.config_set_params(config, None, 64, 100000, 0)
        self.assertFalse(pool.set_config(config))
        ok, _caps, size, min_buffers, max_buffers = Gst.BufferPool.config_get_params(
            pool.get_config())
        self.assertTrue(ok)
        self.assertEqual((size, min_buffers, max_buffers), (64, 32767, 0))


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
