import Foundation
import XCTest
@testable import NN

/// Fails (at the caller's line) unless every |actual − expected| ≤ atol + rtol·|expected|.
func assertClose(_ actual: [Float], _ expected: [Float], atol: Float = 1e-5, rtol: Float = 1e-4, _ what: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        XCTFail("\(what): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    var worst = -1, worstExcess: Float = 0
    for i in actual.indices {
        let excess = abs(actual[i] - expected[i]) - (atol + rtol * abs(expected[i]))
        if !(excess <= 0), worst < 0 || !(excess <= worstExcess) { worst = i; worstExcess = excess }
    }
    if worst >= 0 {
        XCTFail("\(what): [\(worst)] is \(actual[worst]), expected \(expected[worst]) (largest excess over tolerance \(worstExcess))",
                file: file, line: line)
    }
}

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

/// Values PyTorch computed, from ../shared/data/torch-reference (see its README).
struct TorchReference {
    let settings: [String: Any]
    let tensors: [String: (shape: [Int], values: [Float])]

    static func load(_ name: String) throws -> TorchReference {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../shared/data/torch-reference/\(name).json").standardized
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("needs the PyTorch reference values in \(url.path) (the project's ../shared/data); skipped")
        }
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        var tensors: [String: (shape: [Int], values: [Float])] = [:]
        for (key, value) in root["tensors"] as! [String: Any] {
            let entry = value as! [String: Any]
            tensors[key] = ((entry["shape"] as! [NSNumber]).map(\.intValue), (entry["data"] as! [NSNumber]).map(\.floatValue))
        }
        return TorchReference(settings: root["settings"] as? [String: Any] ?? [:], tensors: tensors)
    }

    subscript(_ name: String) -> [Float] { tensors[name]!.values }
}
