import Foundation
import XCTest
@testable import Invariance
@testable import NN
import TestSupport

final class MatrixExponentialTests: XCTestCase {
    func test_valueAndGradient_matchPyTorchsMatrixExp() throws {
        let ref = try TorchReference.load("affine_expm")
        XCTAssertEqual(ref["generators"], AffineGenerator.stacked, "our generators are the reference's")
        let eps = Tensor(shape: [2, 6], values: ref["eps"], requiresGradient: true)
        let m = matrixExponential(eps.matmul(Tensor(shape: [6, 9], values: AffineGenerator.stacked)).reshaped([2, 3, 3]))
        assertClose(m.values, ref["expm"], atol: 1e-5, rtol: 1e-5, "expm")
        (m * Tensor(shape: [2, 3, 3], values: ref["g"])).sum().backward()
        assertClose(eps.gradient!.values, ref["grad_eps"], atol: 1e-4, rtol: 1e-4, "∂expm/∂ε")
    }

    func test_closedForms_rotationAndScale() {
        let angle: Float = 2.5, s: Float = -0.7
        let a = Tensor(shape: [2, 3, 3], values: [0, -angle, 0, angle, 0, 0, 0, 0, 0, s, 0, 0, 0, s, 0, 0, 0, 0])
        let m = matrixExponential(a).values
        assertClose(Array(m[0..<9]), [cos(angle), -sin(angle), 0, sin(angle), cos(angle), 0, 0, 0, 1], atol: 1e-6, "rotation")
        assertClose(Array(m[9..<18]), [exp(s), 0, 0, 0, exp(s), 0, 0, 0, 1], atol: 1e-6, "scale")
    }
}

final class AffineAugmentationTests: XCTestCase {
    func test_initialWidths_andUnlearnedGeneratorsStayZero() {
        let augmentation = AffineAugmentation(learned: [.rotation, .scale], initialWidths: [.rotation: 0.313], defaultWidth: 0.0067)
        let widths = augmentation.widthValues
        XCTAssertEqual(widths[.rotation]!, 0.313, accuracy: 1e-6)
        XCTAssertEqual(widths[.scale]!, 0.0067, accuracy: 1e-6)
        XCTAssertEqual(widths[.shear], 0)
        XCTAssertEqual(widths[.translateX], 0)
    }

    func test_sampledTransforms_stayWithinTheWidths() {
        let augmentation = AffineAugmentation(learned: [.rotation], initialWidths: [.rotation: 1.0])
        var random = RandomGenerator(seed: 3)
        let t = TensorContext.withoutGradients { augmentation.sampleTransforms(count: 200, random: &random).values }
        var largest: Float = 0
        for n in 0..<200 {
            // A pure rotation by ε: [[cos ε, −sin ε, 0], [sin ε, cos ε, 0]].
            let angle = atan2(t[n * 6 + 3], t[n * 6])
            largest = max(largest, abs(angle))
            XCTAssertEqual(t[n * 6 + 3], -t[n * 6 + 1], accuracy: 1e-6)
            XCTAssertEqual(t[n * 6 + 2], 0, accuracy: 1e-6)
        }
        XCTAssertLessThanOrEqual(largest, 0.5 + 1e-5, "ε within ±θ/2")
        XCTAssertGreaterThan(largest, 0.45, "samples reach the interval's ends")
    }

    func test_gradientFlowsIntoTheWidths_matchingFiniteDifferences() {
        let augmentation = AffineAugmentation(initialWidths: [.rotation: 0.8, .translateX: 0.5, .scale: 0.3, .stretch: 0.2, .shear: 0.25, .translateY: 0.4])
        var imageRandom = RandomGenerator(seed: 4)
        let x = Tensor(shape: [3, 2, 7, 7], values: (0..<294).map { _ in imageRandom.nextFloat(in: -1..<1) })
        let g = Tensor(shape: [3, 2, 7, 7], values: (0..<294).map { _ in imageRandom.nextFloat(in: -1..<1) })
        func loss() -> Tensor {
            var random = RandomGenerator(seed: 9)  // the same samples u every time
            return (augmentation(x, random: &random) * g).sum()
        }
        assertWidthGradientsMatchFiniteDifferences(augmentation.rawWidths, names: AffineGenerator.allCases.map(\.rawValue), step: 1e-3, loss)
    }

    func test_inverseSoftplus_invertsSoftplus() {
        for theta: Float in [1e-4, 0.0067, 0.313, 1, 6.28, 20] {
            let w = inverseSoftplus(theta)
            XCTAssertEqual(Tensor(shape: [1], values: [w]).softplus().item, theta, accuracy: theta * 1e-5)
        }
    }
}
