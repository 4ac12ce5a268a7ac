import Foundation
import TestSupport
import XCTest
@testable import Kernels

final class ActivationTests: XCTestCase {
    func test_relu_forwardAndBackward() {
        let x: [Float] = [-2, -0.5, 0, 0.5, 3], g: [Float] = [1, 2, 3, 4, 5]
        var y = [Float](repeating: 0, count: 5), dx = [Float](repeating: 10, count: 5)
        x.withPointer { px in y.withMutablePointer { reluForward(count: 5, input: px, output: $0, parallelism: .serial) } }
        y.withPointer { py in g.withPointer { pg in dx.withMutablePointer { reluBackward(count: 5, output: py, gradOutput: pg, gradInput: $0, parallelism: .serial) } } }
        XCTAssertEqual(y, [0, 0, 0, 0.5, 3])
        XCTAssertEqual(dx, [10, 10, 10, 14, 15])
    }

    func test_relu_onManyThreads_matchesSerial() {
        var rng = TestRandom(seed: 50)
        let x = rng.floats(100_003)
        var serial = [Float](repeating: 0, count: x.count), parallel = serial
        x.withPointer { px in
            serial.withMutablePointer { reluForward(count: x.count, input: px, output: $0, parallelism: .serial) }
            parallel.withMutablePointer { reluForward(count: x.count, input: px, output: $0, parallelism: Parallelism(threads: 3)) }
        }
        XCTAssertEqual(serial, parallel)
    }

    func test_softplus_isStableAndItsGradientMatchesFiniteDifferences() {
        let x: [Float] = [-100, -3, -0.2, 0, 0.7, 5, 100]
        var y = [Float](repeating: 0, count: x.count), dx = [Float](repeating: 0, count: x.count)
        let g = [Float](repeating: 1, count: x.count)
        x.withPointer { px in y.withMutablePointer { softplusForward(count: x.count, input: px, output: $0) } }
        x.withPointer { px in g.withPointer { pg in dx.withMutablePointer { softplusBackward(count: x.count, input: px, gradOutput: pg, gradInput: $0) } } }
        assertClose(y, x.map { Float(Foundation.log1p(Foundation.exp(Double($0)))) }, atol: 1e-6, "softplus")
        let fd = numericGradient(x, indices: Array(x.indices), step: 1e-2) { xs in
            var out = [Float](repeating: 0, count: xs.count)
            xs.withPointer { p in out.withMutablePointer { softplusForward(count: xs.count, input: p, output: $0) } }
            return weightedSum(out, g)
        }
        assertClose(dx, fd, atol: 1e-3, rtol: 1e-3, "softplus ∂x")
    }

    func test_dropout_appliesTheMaskPerElementAndPerChannel() {
        let x: [Float] = [1, 2, 3, 4, 5, 6], mask: [Float] = [0, 2, 2, 0, 2, 0], g: [Float] = [1, 1, 1, 1, 1, 1]
        var y = [Float](repeating: 0, count: 6), dx = [Float](repeating: 0, count: 6)
        x.withPointer { px in mask.withPointer { pm in y.withMutablePointer { dropoutForward(count: 6, input: px, mask: pm, output: $0, parallelism: .serial) } } }
        g.withPointer { pg in mask.withPointer { pm in dx.withMutablePointer { dropoutBackward(count: 6, gradOutput: pg, mask: pm, gradInput: $0, parallelism: .serial) } } }
        XCTAssertEqual(y, [0, 4, 6, 0, 10, 0])
        XCTAssertEqual(dx, mask)
        let planeMask: [Float] = [0, 2, 1]  // three planes of two values
        x.withPointer { px in planeMask.withPointer { pm in y.withMutablePointer { dropout2dForward(planes: 3, planeSize: 2, input: px, mask: pm, output: $0, parallelism: .serial) } } }
        dx = [Float](repeating: 0, count: 6)
        g.withPointer { pg in planeMask.withPointer { pm in dx.withMutablePointer { dropout2dBackward(planes: 3, planeSize: 2, gradOutput: pg, mask: pm, gradInput: $0, parallelism: .serial) } } }
        XCTAssertEqual(y, [0, 0, 6, 8, 5, 6])
        XCTAssertEqual(dx, [0, 0, 2, 2, 1, 1])
    }
}

final class ElementwiseTests: XCTestCase {
    func test_arithmeticAndReductions() {
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [0.5, -1, 2, 0]
        var out = [Float](repeating: 0, count: 4)
        a.withPointer { pa in b.withPointer { pb in out.withMutablePointer { add(count: 4, pa, pb, into: $0, parallelism: .serial) } } }
        XCTAssertEqual(out, [1.5, 1, 5, 4])
        a.withPointer { pa in b.withPointer { pb in out.withMutablePointer { multiply(count: 4, pa, pb, into: $0, parallelism: .serial) } } }
        XCTAssertEqual(out, [0.5, -2, 6, 0])
        a.withPointer { pa in out.withMutablePointer { axpy(count: 4, alpha: 2, pa, $0, parallelism: .serial) } }
        XCTAssertEqual(out, [2.5, 2, 12, 8])
        out.withMutablePointer { scale(count: 4, by: 0.5, $0, parallelism: .serial) }
        XCTAssertEqual(out, [1.25, 1, 6, 4])
        out.withMutablePointer { fill(count: 4, $0, with: 0) }
        XCTAssertEqual(out, [0, 0, 0, 0])
        a.withPointer { pa in
            XCTAssertEqual(sum(count: 4, pa), 10)
            XCTAssertEqual(mean(count: 4, pa), 2.5)
            XCTAssertEqual(b.withPointer { dot(count: 4, pa, $0) }, 4.5)
            XCTAssertEqual(maxAbs(count: 4, pa), 4)
        }
        var columns: [Float] = [10, 20]
        a.withPointer { pa in columns.withMutablePointer { addColumnSums(rows: 2, cols: 2, pa, into: $0, parallelism: .serial) } }
        XCTAssertEqual(columns, [14, 26])
        var rowTotals: [Float] = [0, 0]
        a.withPointer { pa in rowTotals.withMutablePointer { rowSums(rows: 2, cols: 2, pa, into: $0, parallelism: .serial) } }
        XCTAssertEqual(rowTotals, [3, 7])
    }

    func test_elementwise_onManyThreads_matchesSerial() {
        var rng = TestRandom(seed: 51)
        let x = rng.floats(70_001), y0 = rng.floats(70_001)
        var serial = y0, parallel = y0
        x.withPointer { px in
            serial.withMutablePointer { axpy(count: x.count, alpha: 0.3, px, $0, parallelism: .serial) }
            parallel.withMutablePointer { axpy(count: x.count, alpha: 0.3, px, $0, parallelism: Parallelism(threads: 4)) }
        }
        XCTAssertEqual(serial, parallel)
    }
}
