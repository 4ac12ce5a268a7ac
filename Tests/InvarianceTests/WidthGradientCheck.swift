import XCTest
@testable import NN

/// Backpropagates `loss` once and checks ∂loss/∂w for every raw width against central
/// differences of step `step`; `names[k]` names width k in failures. `loss` must draw the same
/// samples every call (a fixed seed).
func assertWidthGradientsMatchFiniteDifferences(_ rawWidths: Tensor, names: [String], step: Float,
                                                file: StaticString = #filePath, line: UInt = #line, _ loss: () -> Tensor) {
    loss().backward()
    let analytic = rawWidths.gradient!.values
    XCTAssertGreaterThan(analytic.map(abs).max()!, 1e-3, "the widths receive a gradient", file: file, line: line)
    for k in 0..<rawWidths.count {
        let saved = rawWidths.storage.pointer[k]
        rawWidths.storage.pointer[k] = saved + step
        let plus = TensorContext.withoutGradients { loss().item }
        rawWidths.storage.pointer[k] = saved - step
        let minus = TensorContext.withoutGradients { loss().item }
        rawWidths.storage.pointer[k] = saved
        XCTAssertEqual(analytic[k], (plus - minus) / (2 * step), accuracy: 2e-2 * max(1, abs(analytic[k])),
                       "∂loss/∂w for \(names[k])", file: file, line: line)
    }
}
