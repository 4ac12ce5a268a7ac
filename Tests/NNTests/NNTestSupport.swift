import Foundation
import TestSupport
import XCTest
@testable import NN

/// Checks the tape's gradients of L = Σ f(inputs)·g (g fixed, random) with respect to every
/// input against central finite differences; the message names the operation, the input's
/// shape and the worst element.
func checkGradients(_ name: String, _ inputs: [Tensor], step: Float = 1e-2, tolerance: Float = 3e-3, seed: UInt64 = 1,
                    file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) {
    let probe = TensorContext.withoutGradients { f(inputs) }
    var random = RandomGenerator(seed: seed)
    let g = Tensor(shape: probe.shape, values: (0..<probe.count).map { _ in random.nextFloat(in: -1..<1) })
    for input in inputs { input.zeroGradient() }
    (f(inputs) * g).sum().backward()
    func loss() -> Double {
        TensorContext.withoutGradients {
            let out = f(inputs).values
            return zip(out, g.values).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
    }
    for (index, input) in inputs.enumerated() where input.requiresGradient {
        let analytic = input.gradient?.values ?? [Float](repeating: 0, count: input.count)
        let sampled = input.count <= 40 ? Array(0..<input.count) : (0..<40).map { $0 * input.count / 40 }
        var numeric: [Float] = []
        for i in sampled {
            let saved = input.storage.pointer[i]
            input.storage.pointer[i] = saved + step
            let plus = loss()
            input.storage.pointer[i] = saved - step
            let minus = loss()
            input.storage.pointer[i] = saved
            numeric.append(Float((plus - minus) / Double(2 * step)))
        }
        assertClose(sampled.map { analytic[$0] }, numeric, atol: tolerance, rtol: tolerance,
                    "\(name): ∂/∂input \(index) of shape \(input.shape)", file: file, line: line)
    }
}

/// A leaf with values uniform in ±scale.
func randomTensor(_ shape: [Int], scale: Float = 1, seed: UInt64, requiresGradient: Bool = true) -> Tensor {
    var random = RandomGenerator(seed: seed)
    return Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in random.nextFloat(in: -scale..<scale) },
                  requiresGradient: requiresGradient)
}
