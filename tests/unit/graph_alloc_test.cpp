// The ggml_gallocr model (src/estimate/graph_alloc.h): expected offsets and peaks worked out by
// hand from the rules of ggml-alloc.c, on graphs small enough to follow on paper.
#include <gtest/gtest.h>

#include "estimate/graph_alloc.h"

namespace bitnet::detail::galloc {
namespace {

TEST(DynAlloc, SizesArePaddedAndTheTailGrows) {
  DynAlloc a(32);
  EXPECT_EQ(a.alloc(100), 0u);   // padded to 128
  EXPECT_EQ(a.alloc(1), 128u);   // padded to 32
  EXPECT_EQ(a.max_size(), 160u);
}

TEST(DynAlloc, BestFitPrefersTheSmallestFreeBlockThatFits) {
  DynAlloc a(32);
  EXPECT_EQ(a.alloc(64), 0u);     // A [0, 64)
  EXPECT_EQ(a.alloc(32), 64u);    // B [64, 96)
  EXPECT_EQ(a.alloc(128), 96u);   // C [96, 224)
  EXPECT_EQ(a.alloc(32), 224u);   // D [224, 256)
  a.free(0, 64);                  // free blocks: [0, 64) [96, 224) and the tail from 256
  a.free(96, 128);
  EXPECT_EQ(a.alloc(64), 0u);     // exact fit, not the 128-byte hole
  EXPECT_EQ(a.alloc(100), 96u);   // 128 fits the 128-byte hole, not the tail
  EXPECT_EQ(a.alloc(32), 256u);   // nothing left but the tail
  EXPECT_EQ(a.max_size(), 288u);
}

TEST(DynAlloc, EqualHolesTakeTheLaterOne) {
  DynAlloc a(32);
  a.alloc(64);  // [0, 64)
  a.alloc(32);  // [64, 96)
  a.alloc(64);  // [96, 160)
  a.alloc(32);  // [160, 192)
  a.free(0, 64);
  a.free(96, 64);
  EXPECT_EQ(a.alloc(64), 96u);  // ggml's scan keeps the last block of the smallest fitting size
}

TEST(DynAlloc, FreesMergeWithBothNeighboursAndTheTail) {
  DynAlloc a(32);
  a.alloc(32);  // [0, 32)
  a.alloc(32);  // [32, 64)
  a.alloc(32);  // [64, 96)
  a.free(0, 32);
  a.free(64, 32);  // merges into the tail: blocks [0, 32) and [64, ...)
  ASSERT_EQ(a.blocks().size(), 2u);
  a.free(32, 32);  // joins both: one block from 0
  ASSERT_EQ(a.blocks().size(), 1u);
  EXPECT_EQ(a.blocks()[0].offset, 0u);
  EXPECT_EQ(a.alloc(96), 0u);
  EXPECT_EQ(a.max_size(), 96u);  // the high-water mark never shrinks, nor grows here
}

Tensor f32(std::int64_t n) {
  Tensor t;
  t.ne = {n, 1, 1, 1};
  return t;
}

Tensor op(Op o, std::int64_t n, std::int32_t a, std::int32_t b = kNone) {
  Tensor t = f32(n);
  t.op = o;
  t.src = {a, b, kNone, kNone};
  return t;
}

// x (input, 1024 B) -> a = mul_mat(x) 1024 B -> b = add(a) in place -> c = mul_mat(b) 1024 B.
// x is freed after a, so c takes x's hole: peak 2048 (x + a/b), not 3072.
TEST(Graph, ChainReusesFreedInputsAndRunsInPlace) {
  Graph g;
  const std::int32_t x = g.add(f32(256));
  const std::int32_t a = g.add(op(Op::kOther, 256, x));
  const std::int32_t b = g.add(op(Op::kInplace, 256, a));
  const std::int32_t c = g.add(op(Op::kOther, 256, b));
  g[c].output = true;
  g.alloc_leaf(x);
  g.expand(c);
  g.run_nodes();
  EXPECT_EQ(g[a].offset, 1024u);
  EXPECT_EQ(g[b].offset, 1024u);  // in place of a (one child, same layout)
  EXPECT_EQ(g[c].offset, 0u);     // x's block, freed after a
  EXPECT_EQ(g.allocator().max_size(), 2048u);
}

// a has two children (b in place, d later): b cannot take a's memory.
TEST(Graph, NoInPlaceWhileTheSourceHasOtherChildren) {
  Graph g;
  const std::int32_t x = g.add(f32(256));
  const std::int32_t a = g.add(op(Op::kOther, 256, x));
  const std::int32_t b = g.add(op(Op::kInplace, 256, a));
  const std::int32_t d = g.add(op(Op::kInplace, 256, b, a));
  g[d].output = true;
  g.alloc_leaf(x);
  g.expand(d);
  g.run_nodes();
  // x [0,1024) freed after a; a [1024,2048); b takes x's hole [0,1024); d in place of b.
  EXPECT_EQ(g[b].offset, 0u);
  EXPECT_EQ(g[d].offset, 0u);
  EXPECT_EQ(g.allocator().max_size(), 2048u);
}

// An in-place op on a view is a new allocation (views are never owned), and the view's root is
// freed only when the view's last child has run.
TEST(Graph, ViewsKeepTheirRootAliveAndAreNeverReusedInPlace) {
  Graph g;
  const std::int32_t x = g.add(f32(256));
  const std::int32_t a = g.add(op(Op::kOther, 256, x));          // [1024, 2048)
  Tensor v = op(Op::kView, 256, a);
  v.view_src = a;
  const std::int32_t va = g.add(v);
  const std::int32_t r = g.add(op(Op::kInplace, 256, va));       // rope of the reshaped a
  const std::int32_t s = g.add(op(Op::kOther, 128, r));          // 512 B
  g[s].output = true;
  g.alloc_leaf(x);
  g.expand(s);
  g.run_nodes();
  EXPECT_EQ(g[r].offset, 0u);      // x's hole, freed after a: not in place of the view
  EXPECT_EQ(g[s].offset, 1024u);   // a was freed when r (the view's only child) ran
  EXPECT_EQ(g.allocator().max_size(), 2048u);
}

// In place needs the same type and shape (ggml_are_same_layout on contiguous tensors).
TEST(Graph, InPlaceNeedsTheSameShape) {
  Graph g;
  const std::int32_t x = g.add(f32(64));                        // 256 B at 0
  const std::int32_t a = g.add(op(Op::kOther, 64, x));          // 256 B at 256
  const std::int32_t b = g.add(op(Op::kInplace, 32, a));        // other shape: a new 128 B block
  g[b].output = true;
  g.alloc_leaf(x);
  g.expand(b);
  g.run_nodes();
  EXPECT_EQ(g[b].offset, 0u);  // x freed after a; best fit takes its hole
  EXPECT_EQ(g.allocator().max_size(), 512u);
}

// Residency: the union of the ranges written, in pages, for a buffer 64 bytes into its first page
// (whose chunk header makes that page resident anyway). Hand count: [0,100) is in page 0; [5000,
// 4992) covers bytes 5056..9055, pages 1-2; [8000,8200) lies in pages 1-2 already; [20000,20001)
// is byte 20064, page 4. Pages 0, 1, 2, 4.
TEST(Graph, TouchedPagesAreTheUnionOfWrittenRanges) {
  Graph g;
  g.set_track(true);
  const std::int32_t a = g.add(f32(25));      // 100 B
  const std::int32_t b = g.add(f32(1000));    // 4000 B
  const std::int32_t c = g.add(f32(50));      // 200 B
  const std::int32_t d = g.add(f32(1));       // 4 B, only 1 of them written
  g[d].wbytes = 1;
  const std::int32_t e = g.add(f32(4096));    // never written
  g[e].wbytes = 0;
  for (std::int32_t t : {a, b, c, d, e}) g[t].output = true;
  for (std::int32_t t : {a, b, c, d, e}) g.alloc_leaf(t);
  Graph h;
  h.set_track(true);
  for (auto [off, n] : {std::pair<std::uint64_t, std::uint64_t>{0, 100}, {4992, 4000}, {8000, 200}, {20000, 1}}) {
    // The allocator emptied and [0, off) taken: the tensor goes to `off` (a multiple of 32).
    DynAlloc& al = h.allocator();
    al.reset();
    if (off > 0) (void)al.alloc(off);
    const std::int32_t t = h.add(f32(static_cast<std::int64_t>((n + 3) / 4)));
    h[t].wbytes = n;
    h[t].output = true;
    h.alloc_leaf(t);
    ASSERT_EQ(h[t].offset, off);
  }
  EXPECT_EQ(h.touched_pages(4096, 64), 4u * 4096);
  // The first graph: [0,100) [128,4128) [4128,4328) [4352,4353): bytes 64..4416, pages 0-1.
  EXPECT_EQ(g.touched_pages(4096, 64), 2u * 4096);
}

}  // namespace
}  // namespace bitnet::detail::galloc
