import TestSupport
import XCTest
@testable import Kernels

final class PoolingTests: XCTestCase {
    let shapes = [Pool2DShape(planes: 3, height: 7, width: 6, kernel: 2),
                  Pool2DShape(planes: 2, height: 9, width: 11, kernel: 3, stride: 2, padding: 1),
                  Pool2DShape(planes: 1, height: 1, width: 1, kernel: 1),
                  Pool2DShape(planes: 4, height: 8, width: 8, kernel: 4)]

    func maxPool(_ s: Pool2DShape, _ x: [Float], _ g: [Float]) -> ([Float], [Float]) {
        var y = [Float](repeating: 0, count: s.planes * s.outHeight * s.outWidth)
        var idx = [Int32](repeating: 0, count: y.count), dx = [Float](repeating: 0, count: x.count)
        x.withPointer { px in y.withMutablePointer { py in idx.withUnsafeMutableBufferPointer { pi in
            maxPool2dForward(s, input: px, output: py, argmax: pi.baseAddress!, parallelism: Parallelism(threads: 2))
        } } }
        g.withPointer { pg in idx.withUnsafeBufferPointer { pi in dx.withMutablePointer {
            maxPool2dBackward(s, gradOutput: pg, argmax: pi.baseAddress!, gradInput: $0, parallelism: Parallelism(threads: 2))
        } } }
        return (y, dx)
    }

    /// Without accumulating, max pooling's ∂input overwrites what the buffer held (NaN here),
    /// overlapping windows (stride 2, kernel 3) included; with it, adds to it.
    func test_maxPoolBackward_writesOrAdds() {
        var rng = TestRandom(seed: 23)
        for s in shapes {
            let x = rng.floats(s.planes * s.height * s.width), g = rng.floats(s.planes * s.outHeight * s.outWidth)
            let (_, fresh) = maxPool(s, x, g)
            var idx = [Int32](repeating: 0, count: g.count), y = [Float](repeating: 0, count: g.count)
            x.withPointer { px in y.withMutablePointer { py in idx.withUnsafeMutableBufferPointer { pi in
                maxPool2dForward(s, input: px, output: py, argmax: pi.baseAddress!, parallelism: .serial)
            } } }
            var written = [Float](repeating: .nan, count: x.count), added = [Float](repeating: 1, count: x.count)
            g.withPointer { pg in idx.withUnsafeBufferPointer { pi in
                written.withMutablePointer {
                    maxPool2dBackward(s, gradOutput: pg, argmax: pi.baseAddress!, gradInput: $0, accumulate: false, parallelism: Parallelism(threads: 2))
                }
                added.withMutablePointer { maxPool2dBackward(s, gradOutput: pg, argmax: pi.baseAddress!, gradInput: $0, parallelism: Parallelism(threads: 2)) }
            } }
            assertClose(written, fresh, "∂x written, \(s)")
            assertClose(added, fresh.map { $0 + 1 }, "∂x added, \(s)")
        }
    }

    func avgPool(_ s: Pool2DShape, _ x: [Float], _ g: [Float]) -> ([Float], [Float]) {
        var y = [Float](repeating: 0, count: s.planes * s.outHeight * s.outWidth), dx = [Float](repeating: 0, count: x.count)
        x.withPointer { px in y.withMutablePointer { avgPool2dForward(s, input: px, output: $0, parallelism: Parallelism(threads: 2)) } }
        g.withPointer { pg in dx.withMutablePointer { avgPool2dBackward(s, gradOutput: pg, gradInput: $0, parallelism: Parallelism(threads: 2)) } }
        return (y, dx)
    }

    func test_maxAndAverage_matchNaiveAndFiniteDifferences() {
        var rng = TestRandom(seed: 20)
        for s in shapes {
            // Distinct values 0.01 apart in random order: no ties, and a finite-difference step
            // of 1e-3 never changes which element wins a window.
            var x = (0..<(s.planes * s.height * s.width)).map { Float($0) * 0.01 }
            for i in stride(from: x.count - 1, to: 0, by: -1) { x.swapAt(i, rng.below(i + 1)) }
            let g = rng.floats(s.planes * s.outHeight * s.outWidth)
            let (ym, dxm) = maxPool(s, x, g), (ya, dxa) = avgPool(s, x, g)
            assertClose(ym, naivePool(s, x: x, max: true), "maxPool forward \(s)")
            assertClose(ya, naivePool(s, x: x, max: false), "avgPool forward \(s)")
            let i = sampleIndices(x.count)
            assertClose(i.map { dxm[$0] }, numericGradient(x, indices: i, step: 1e-3) { weightedSum(naivePool(s, x: $0, max: true), g) },
                        atol: 2e-3, rtol: 2e-3, "maxPool ∂x \(s)")
            assertClose(i.map { dxa[$0] }, numericGradient(x, indices: i) { weightedSum(naivePool(s, x: $0, max: false), g) },
                        atol: 2e-3, rtol: 2e-3, "avgPool ∂x \(s)")
        }
    }

    func test_maxPool2x2_vectorPaths_matchFirstWinnerRuleWithTiesAndNaN() {
        // Widths for the 16-, 8- and 4-output vector paths, with and without a last group that
        // overlaps the one before (71: 35 windows, sixteens at 0, 16 and 19; 28 and 29: eights at
        // 0 and 6; 33: one sixteen; 17: one eight; 14 and 15: fours at 0 and 3; 9: one four), and
        // the one-at-a-time rows (6: 3 windows); values from a small set so that ties are common,
        // and a few NaNs.
        for width in [71, 29, 28, 33, 17, 15, 14, 9, 6] {
            let q = width / 2, s = Pool2DShape(planes: 2, height: 5, width: width, kernel: 2)
            var rng = TestRandom(seed: 22)
            var x = (0..<(2 * 5 * width)).map { _ in Float(rng.below(4)) }
            for i in [3, 100, 141, 40, 55] where i < x.count { x[i] = .nan }
            var y = [Float](repeating: 0, count: 2 * 2 * q), idx = [Int32](repeating: -1, count: y.count)
            x.withPointer { px in y.withMutablePointer { py in idx.withUnsafeMutableBufferPointer { pi in
                maxPool2dForward(s, input: px, output: py, argmax: pi.baseAddress!, parallelism: .serial)
            } } }
            for plane in 0..<2 { for oh in 0..<2 { for ow in 0..<q {
                // The rule: scan the window row by row; take a value that is larger, or a NaN.
                var best = -Float.infinity, at = 2 * oh * width + 2 * ow
                for (r, c) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let i = (2 * oh + r) * width + 2 * ow + c, v = x[plane * 5 * width + i]
                    if v > best || v.isNaN { best = v; at = i }
                }
                let o = (plane * 2 + oh) * q + ow
                XCTAssertEqual(idx[o], Int32(at), "argmax of width \(width), plane \(plane), output (\(oh), \(ow))")
                XCTAssertTrue(y[o] == best || (y[o].isNaN && best.isNaN), "max of width \(width), plane \(plane), output (\(oh), \(ow))")
            } } }
        }
    }

    func test_maxPool_whenNaNPresent_propagatesIt() {
        let s = Pool2DShape(planes: 1, height: 2, width: 2, kernel: 2)
        let (y, _) = maxPool(s, [1, .nan, 3, 2], [1])
        XCTAssertTrue(y[0].isNaN)
    }

    func test_globalAveragePool_matchesMeanAndGradient() {
        var rng = TestRandom(seed: 21)
        let (planes, size) = (5, 13)
        let x = rng.floats(planes * size), g = rng.floats(planes)
        var y = [Float](repeating: 0, count: planes), dx = [Float](repeating: 0, count: x.count)
        x.withPointer { px in y.withMutablePointer { globalAvgPoolForward(planes: planes, planeSize: size, input: px, output: $0, parallelism: .serial) } }
        g.withPointer { pg in dx.withMutablePointer { globalAvgPoolBackward(planes: planes, planeSize: size, gradOutput: pg, gradInput: $0, parallelism: .serial) } }
        assertClose(y, (0..<planes).map { p in x[(p * size)..<((p + 1) * size)].reduce(0, +) / Float(size) }, "global mean")
        assertClose(dx, (0..<x.count).map { g[$0 / size] / Float(size) }, "global mean ∂x")
    }

    func test_torchReference_maxAndAverage() throws {
        for (name, isMax) in [("maxpool2d_k2", true), ("avgpool2d_k2", false)] {
            let ref = try TorchReference.load(name)
            let xs = ref.shape("x")
            let s = Pool2DShape(planes: xs[0] * xs[1], height: xs[2], width: xs[3], kernel: 2)
            let (y, dx) = isMax ? maxPool(s, ref["x"], ref["g"]) : avgPool(s, ref["x"], ref["g"])
            assertClose(y, ref["out"], "\(name) out")
            assertClose(dx, ref["grad_x"], "\(name) grad_x")
        }
    }
}
