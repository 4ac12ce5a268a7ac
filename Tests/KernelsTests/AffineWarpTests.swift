import TestSupport
import XCTest
@testable import Kernels

final class AffineWarpTests: XCTestCase {
    func warp(_ s: AffineWarpShape, _ x: [Float], _ theta: [Float], threads: Int = 2) -> [Float] {
        var y = [Float](repeating: .nan, count: s.batch * s.channels * s.outHeight * s.outWidth)
        x.withPointer { px in theta.withPointer { pt in y.withMutablePointer {
            affineWarpForward(s, input: px, theta: pt, output: $0, parallelism: Parallelism(threads: threads))
        } } }
        return y
    }

    func warpGradients(_ s: AffineWarpShape, _ x: [Float], _ theta: [Float], _ g: [Float], threads: Int = 2) -> ([Float], [Float]) {
        var dx = [Float](repeating: 0, count: x.count), dt = [Float](repeating: 0, count: theta.count)
        x.withPointer { px in theta.withPointer { pt in g.withPointer { pg in dx.withMutablePointer { pdx in dt.withMutablePointer {
            affineWarpBackward(s, input: px, theta: pt, gradOutput: pg, gradInput: pdx, gradTheta: $0, parallelism: Parallelism(threads: threads))
        } } } } }
        return (dx, dt)
    }

    let image: [Float] = (0..<20).map { Float($0 * $0 % 7) + 0.25 * Float($0) }  // 4×5, distinct values
    let shape = AffineWarpShape(batch: 1, channels: 1, height: 4, width: 5)

    func test_identity_returnsTheInput() {
        assertClose(warp(shape, image, [1, 0, 0, 0, 1, 0]), image, atol: 1e-6, "identity warp")
    }

    func test_rotationBy90Degrees_permutesPixels() {
        let s = AffineWarpShape(batch: 1, channels: 1, height: 4, width: 4)
        let x = (0..<16).map(Float.init)
        let y = warp(s, x, [0, -1, 0, 1, 0, 0])
        // out[i][j] samples (column 3 − i, row j).
        assertClose(y, (0..<16).map { let (i, j) = ($0 / 4, $0 % 4); return x[j * 4 + (3 - i)] }, atol: 1e-5, "90° rotation")
    }

    func test_halfPixelShift_averagesNeighboursAndFadesAtTheBorder() {
        let y = warp(shape, image, [1, 0, 0.5 * 2 / 4, 0, 1, 0])  // +½ pixel in x (W − 1 = 4)
        let expected = (0..<20).map { k -> Float in
            let (i, j) = (k / 5, k % 5)
            return 0.5 * image[i * 5 + j] + 0.5 * (j + 1 < 5 ? image[i * 5 + j + 1] : 0)
        }
        assertClose(y, expected, atol: 1e-5, "half-pixel shift")
    }

    func test_samplesOutsideTheImage_areZeroWithZeroGradient() {
        let y = warp(shape, image, [1, 0, 5, 0, 1, -7])
        XCTAssertEqual(y, [Float](repeating: 0, count: 20))
        let (dx, dt) = warpGradients(shape, image, [1, 0, 5, 0, 1, -7], [Float](repeating: 1, count: 20))
        XCTAssertEqual(dx, [Float](repeating: 0, count: 20))
        XCTAssertEqual(dt, [Float](repeating: 0, count: 6))
    }

    func test_randomMatrices_matchNaiveAndFiniteDifferences() {
        var rng = TestRandom(seed: 60)
        for s in [AffineWarpShape(batch: 3, channels: 2, height: 6, width: 7),
                  AffineWarpShape(batch: 2, channels: 1, height: 5, width: 5, outHeight: 3, outWidth: 8),
                  AffineWarpShape(batch: 1, channels: 3, height: 1, width: 4)] {
            let x = rng.floats(s.batch * s.channels * s.height * s.width)
            // Near-identity matrices with some rotation, scale and shift, so samples straddle the border.
            let spread: [Float] = [0.3, 0.5, 0.4, 0.5, 0.3, 0.4], identity: [Float] = [1, 0, 0, 0, 1, 0]
            var theta: [Float] = []
            for _ in 0..<s.batch { for k in 0..<6 { theta.append(identity[k] + spread[k] * rng.symmetric()) } }
            let g = rng.floats(s.batch * s.channels * s.outHeight * s.outWidth)
            assertClose(warp(s, x, theta), naiveAffineWarp(s, x: x, theta: theta), atol: 1e-5, "warp forward \(s)")
            let (dx, dt) = warpGradients(s, x, theta, g)
            let ix = sampleIndices(x.count)
            assertClose(ix.map { dx[$0] }, numericGradient(x, indices: ix) { weightedSum(naiveAffineWarp(s, x: $0, theta: theta), g) },
                        atol: 1e-3, rtol: 1e-3, "warp ∂x \(s)")
            // The warp is piecewise smooth in θ; a small step keeps samples within their pixel cells.
            assertClose(dt, numericGradient(theta, indices: Array(theta.indices), step: 1e-4) { weightedSum(naiveAffineWarp(s, x: x, theta: $0), g) },
                        atol: 1e-2, rtol: 1e-2, "warp ∂θ \(s)")
        }
    }

    func test_threadCounts_giveBitwiseTheSameResult() {
        var rng = TestRandom(seed: 61)
        let s = AffineWarpShape(batch: 5, channels: 2, height: 9, width: 8)
        let x = rng.floats(5 * 2 * 72), g = rng.floats(5 * 2 * 72)
        let theta: [Float] = (0..<30).map { i in Float(i % 6 == 0 || i % 6 == 4 ? 1 : 0) + 0.3 * rng.symmetric() }
        XCTAssertEqual(warp(s, x, theta, threads: 1), warp(s, x, theta, threads: 3))
        let (dx1, dt1) = warpGradients(s, x, theta, g, threads: 1), (dx3, dt3) = warpGradients(s, x, theta, g, threads: 3)
        XCTAssertEqual(dx1, dx3)
        XCTAssertEqual(dt1, dt3)
    }

    func test_torchReference_outputAndBothGradients() throws {
        let ref = try TorchReference.load("affine_warp")
        let xs = ref.shape("x")
        let s = AffineWarpShape(batch: xs[0], channels: xs[1], height: xs[2], width: xs[3])
        assertClose(warp(s, ref["x"], ref["theta"]), ref["out"], atol: 1e-5, "affine_warp out")
        let (dx, dt) = warpGradients(s, ref["x"], ref["theta"], ref["g"])
        assertClose(dx, ref["grad_x"], atol: 1e-5, "affine_warp grad_x")
        assertClose(dt, ref["grad_theta"], atol: 1e-4, "affine_warp grad_theta")
    }
}
