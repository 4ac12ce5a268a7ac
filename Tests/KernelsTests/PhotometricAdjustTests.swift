import TestSupport
import XCTest
@testable import Kernels

/// torchvision's _rgb2hsv and _hsv2rgb for one pixel, literally (in Double): hue in [0, 1).
func naiveHSV(_ r: Double, _ g: Double, _ b: Double) -> (h: Double, s: Double, v: Double) {
    let maxc = max(r, g, b), minc = min(r, g, b), eqc = maxc == minc, cr = maxc - minc
    let s = cr / (eqc ? 1 : maxc), divisor = eqc ? 1 : cr
    let (rc, gc, bc) = ((maxc - r) / divisor, (maxc - g) / divisor, (maxc - b) / divisor)
    let hr = maxc == r ? bc - gc : 0
    let hg = maxc == g && maxc != r ? 2 + rc - bc : 0
    let hb = maxc != g && maxc != r ? 4 + gc - rc : 0
    return (fmod((hr + hg + hb) / 6 + 1, 1), s, maxc)
}

func naiveRGB(_ h: Double, _ s: Double, _ v: Double) -> (Double, Double, Double) {
    let i = floor(h * 6), f = h * 6 - i
    let p = min(1, max(0, v * (1 - s))), q = min(1, max(0, v * (1 - s * f))), t = min(1, max(0, v * (1 - s * (1 - f))))
    switch ((Int(i) % 6) + 6) % 6 {
    case 0: return (v, t, p)
    case 1: return (q, v, p)
    case 2: return (p, v, t)
    case 3: return (p, q, v)
    case 4: return (t, p, v)
    default: return (v, p, q)
    }
}

/// The photometric adjustment's plain twin, in Double: brightness, contrast, saturation, hue
/// (through torchvision's HSV conversion) and gamma, one clamp each, factors N×5.
func naivePhotometric(_ s: PhotometricShape, x: [Float], factors: [Float], range: PhotometricRange) -> [Float] {
    let size = s.channels * s.height * s.width, plane = s.height * s.width
    let weights: [Double] = s.channels == 3 ? [0.2989, 0.587, 0.114] : Array(repeating: 1 / Double(s.channels), count: s.channels)
    var y = [Float](repeating: 0, count: x.count)
    for n in 0..<s.batch {
        let f = (0..<5).map { Double(factors[n * 5 + $0]) }
        let (beta, kappa, gamma, sigma, eta) = (f[0], f[1], f[2], f[3], f[4])
        let q1 = (0..<size).map { i in min(1, max(0, beta * (Double(x[n * size + i]) * Double(range.gain) + Double(range.offset)))) }
        var m = 0.0
        for i in 0..<size { m += weights[i / plane] * q1[i] }
        m /= Double(plane)
        var q = q1.map { min(1, max(0, m + kappa * ($0 - m))) }
        if s.channels == 3 {
            for i in 0..<plane {
                let gray = 0.2989 * q[i] + 0.587 * q[plane + i] + 0.114 * q[2 * plane + i]
                for c in 0..<3 { q[c * plane + i] = min(1, max(0, gray + sigma * (q[c * plane + i] - gray))) }
                var (h, sat, v) = naiveHSV(q[i], q[plane + i], q[2 * plane + i])
                h = fmod(fmod(h + eta / (2 * .pi), 1) + 1, 1)
                (q[i], q[plane + i], q[2 * plane + i]) = naiveRGB(h, sat, v)
            }
        }
        for i in 0..<size { y[n * size + i] = Float((pow(q[i], gamma) - Double(range.offset)) / Double(range.gain)) }
    }
    return y
}

final class PhotometricAdjustTests: XCTestCase {
    func adjust(_ s: PhotometricShape, _ x: [Float], _ factors: [Float], _ range: PhotometricRange, threads: Int = 2) -> [Float] {
        var y = [Float](repeating: .nan, count: x.count)
        x.withPointer { px in factors.withPointer { pf in y.withMutablePointer {
            photometricForward(s, input: px, factors: pf, range: range, output: $0, parallelism: Parallelism(threads: threads))
        } } }
        return y
    }

    func gradients(_ s: PhotometricShape, _ x: [Float], _ factors: [Float], _ range: PhotometricRange, _ g: [Float],
                   threads: Int = 2) -> (input: [Float], factors: [Float]) {
        var dx = [Float](repeating: 0, count: x.count), df = [Float](repeating: 0, count: factors.count)
        let y = adjust(s, x, factors, range, threads: threads)
        x.withPointer { px in factors.withPointer { pf in y.withPointer { py in g.withPointer { pg in dx.withMutablePointer { pdx in df.withMutablePointer {
            photometricBackward(s, input: px, factors: pf, range: range, output: py, gradOutput: pg, gradInput: pdx, gradFactors: $0,
                                parallelism: Parallelism(threads: threads))
        } } } } } }
        return (dx, df)
    }

    /// torchvision 0.29's adjust_gamma(adjust_contrast(adjust_brightness(x, β), κ), γ) on a 3×4×5
    /// and a 1×4×5 image in [0, 1] (its _functional_tensor module, run on PyTorch 2.13 CPU), and
    /// PyTorch's gradient of Σ y·w into x. Pixels hit both clamps (x = 0 and 1; β·x > 1).
    func test_torchvisionReference_valuesAndInputGradient() {
        let cases: [(channels: Int, factors: [Float], y: [Float], dx: [Float])] = [
            (3, [1.3, 0.7, 1.6, 1, 0],
             [0.06412751, 0.6428953, 0.2184559, 0.8144939, 0.4337216, 0.0893385, 0.6998839, 0.2570517, 0.8144939, 0.4831075, 0.1175588, 0.7586683, 0.2979552, 0.8144939, 0.5344638, 0.1485874, 0.8144939, 0.3410828, 0.8144939, 0.5877415, 0.1822639, 0.8144939, 0.3863602, 0.06412751, 0.6428953, 0.2184559, 0.8144939, 0.4337216, 0.0893385, 0.6998839, 0.2570517, 0.8144939, 0.4831075, 0.1175588, 0.7586683, 0.2979552, 0.8144939, 0.5344638, 0.1485874, 0.8144939, 0.3410828, 0.8144939, 0.5877415, 0.1822639, 0.8144939, 0.3863602, 0.06412751, 0.6428953, 0.2184559, 0.8144939, 0.4337216, 0.0893385, 0.6998839, 0.2570517, 0.8144939, 0.4831075, 0.1175588, 0.7586683, 0.2979552, 0.8144939],
             [-0.5131252, 0.4178724, -0.5420607, 0, -0.3481738, 0.5952086, 0.006634887, -0.8681857, 0, -0.7322665, 0.4415613, -0.4309472, 0.9312648, 0, -1.144512, 0.2440637, 0, 0.6551089, 0, 1.199541, 0.01303004, 0, 0.3527822, -0.3334767, 0.835505, -0.2613178, 0, 0.01303004, -0.5755436, 0.4375762, -0.5701838, 0, -0.3564207, 0.6654196, 0.01303004, -0.9115999, 0, -0.7544011, 0.4878877, 0, 0.9752415, 0, -1.190375, 0.2588626, 0, 0.682035, -0.1707229, 1.236243, 0.002530536, 0, 0.3573393, -0.3898519, 0.8516228, -0.2890764, 0, 0.002530536, -0.649859, 0.4401127, -0.6138895, 0]),
            (1, [0.8, 1.4, 0.6, 1, 0],
             [0, 0.6995518, 0.240627, 0.8785009, 0.5304874, 0, 0.7376266, 0.3126206, 0.9113927, 0.57582, 0, 0.7744336, 0.374886, 0.9435113, 0.6188871, 0, 0.8101093, 0.430892, 0.9749169, 0.6600417],
             [0.02235837, 0.306609, -1.135659, 0.5107669, -0.319462, 0.02235837, 0.02235837, -1.436538, 0.2606512, -0.6249137, 0.02235837, -0.2432603, 1.314876, 0.02235837, -0.9029681, 0.02235837, -0.4931657, 0.8076526, -0.2054675, 0.90881]),
        ]
        for c in cases {
            let s = PhotometricShape(batch: 1, channels: c.channels, height: 4, width: 5)
            let count = c.channels * 20
            let x = (0..<count).map { Float(($0 * 37) % 23) / 22 }
            let w = (0..<count).map { Float(($0 * 11) % 7 - 3) / 3 }
            let range = PhotometricRange(gain: 1, offset: 0)
            assertClose(adjust(s, x, c.factors, range), c.y, atol: 2e-6, "torchvision's adjustment, \(c.channels) channels")
            assertClose(gradients(s, x, c.factors, range, w).input, c.dx, atol: 2e-5, "PyTorch's input gradient, \(c.channels) channels")
        }
    }

    /// torchvision 0.29's adjust_gamma(adjust_hue(adjust_saturation(adjust_contrast(
    /// adjust_brightness(x, β), κ), σ), η/2π), γ) on a 3×4×5 image in [0, 1] (its
    /// _functional_tensor module on PyTorch 2.13 CPU, in double; the script is
    /// Tests/KernelsTests/torchvision_colour_reference.py), and PyTorch's gradient of Σ y·w into x.
    /// Factors (β, κ, γ, σ, η) as the kernel takes them; one case turns the hue past half a turn.
    func test_torchvisionReference_saturationAndHue() {
        let cases: [(factors: [Float], y: [Float], dx: [Float])] = [
            ([1.1, 0.9, 1.3, 1.4, 0.7],
             [0.04163151, 0.5469862, 0.2131198, 1, 0.4375348, 0.06661787, 0.03105692, 0.2549469, 1, 0.4864818, 0.09950195, 0.04582663, 0.2984253, 1, 0.5077288, 0.1351418, 0.08410276, 0.3434204, 1, 0.525141, 0, 0.5512924, 0.139338, 0.3785061, 0.3486149, 0.01501797, 0.959623, 0.1775527, 0.3324353, 0.395169, 0.04030973, 1, 0.2177763, 0.3329263, 0.4430263, 0.07019114, 1, 0.2597985, 0.3498718, 0.4943749, 0.4046176, 1, 0.6566474, 0, 0.933687, 0.4527252, 0, 0.7102265, 0, 0.9916756, 0.5020438, 0, 0.7647555, 0.01434569, 1, 0.5525077, 0, 0.8201973, 0.04281206, 1],
             [-0.1470514, -0.3457688, -0.5572013, -0.07965665, 0.3462908, 0.910124, -0.1500943, -1.777829, -0.117018, -0.6682947, 0.3138023, -0.267354, 1.218062, 0, -2.005837, -0.4187616, -0.6181543, 0.3180704, 0, 1.55928, 0.576401, -1.214081, 1.196668, -0.1564351, 0.6244198, -1.251066, 1.489979, 1.260182, -0.2298078, 1.412646, -0.8088748, 0.05401367, -1.705612, 1.600507, 1.631148, -0.2736548, 0, -1.04012, 0.7242013, -1.549115, 0.8278371, 0, -2.128034, 0.9295667, -1.489198, 1.589367, -0.05724573, 0.7758413, 1.352804, -2.401463, 0.9636051, 0.01048988, 1.97372, -1.404774, 0.01752622, 0.2733195, 0.02298284, 1.181471, -0.9330638, 0]),
            ([0.9, 1.2, 0.8, 0.6, -2.5],
             [0.248336, 0.8966021, 0.5096993, 0.1659979, 0.7311648, 0.3085206, 0.7554429, 0.55567, 0.1760842, 0.7733338, 0.3646878, 0.7857058, 0.6007078, 0.1964314, 0.8149353, 0.414403, 0.8180896, 0.6449158, 0.253483, 0.8560123, 0.3002765, 0.9183644, 0.5346861, 0.4488448, 0.7540458, 0.3461402, 0.3569477, 0.580138, 0.4961019, 0.7959022, 0.3917734, 0.3748416, 0.6247156, 0.5422806, 0.837215, 0.4406712, 0.3992316, 0.6685109, 0.5875805, 0.8780242, 0.07518941, 0.7201305, 0.2995212, 0.6759143, 0.5438427, 0.09557036, 0.8221012, 0.3515226, 0.7088573, 0.5891116, 0.1249861, 0.8612326, 0.4016605, 0.7435063, 0.6335261, 0.1875269, 0.9003101, 0.4502759, 0.7855053, 0.6771747],
             [0.007317827, -0.1316002, -0.7158717, 0.09608449, -0.3662749, 0.007317827, 0.1048, 0.9276398, -0.3018594, -0.5965492, 0.1851704, 0.1708095, 0.3784751, 0.138506, 0.8067751, -0.1599704, 0.2355673, 0.1116138, -0.2499144, 0.3272861, -0.6199474, 0.05421148, -0.7498567, 0.01437124, -0.2579825, 1.137229, 0.02434011, -0.5575586, 0.01437124, -0.6583532, 0.5759176, -0.6797401, 0.9274704, -0.05602983, -0.5173678, 0.06503391, -1.369249, 0.4839257, -0.4665398, 0.8434556, -0.2622144, -0.4847333, -0.02253886, -0.395896, 0.2846823, 0.1299013, 0.002791008, -0.2242349, -0.6415726, -0.01607959, -0.2391006, 0.002791008, 0.0994701, 0.6386599, -0.2058438, -0.5820405, 0.02788746, -0.2137468, 0.3811189, 0.08937324]),
        ]
        for c in cases {
            let s = PhotometricShape(batch: 1, channels: 3, height: 4, width: 5)
            let x = (0..<60).map { Float(($0 * 37) % 23) / 22 }
            let w = (0..<60).map { Float(($0 * 11) % 7 - 3) / 3 }
            let range = PhotometricRange(gain: 1, offset: 0)
            assertClose(adjust(s, x, c.factors, range), c.y, atol: 2e-6, "torchvision's adjustment, factors \(c.factors)")
            assertClose(gradients(s, x, c.factors, range, w).input, c.dx, atol: 2e-5, "PyTorch's input gradient, factors \(c.factors)")
        }
    }

    /// Standardised inputs, several images and channel counts (the gray mean of 3 channels, the
    /// plain mean of 2), against the Double twin; any thread count gives the same bits.
    func test_standardisedBatches_matchNaive_forAnyThreadCount() {
        var rng = TestRandom(seed: 90)
        for s in [PhotometricShape(batch: 5, channels: 3, height: 6, width: 7), PhotometricShape(batch: 3, channels: 2, height: 5, width: 5),
                  PhotometricShape(batch: 4, channels: 1, height: 1, width: 9)] {
            let range = PhotometricRange(standardisedWithMean: 0.4, std: 0.3, low: 0, high: 1)
            let x = rng.floats(s.batch * s.channels * s.height * s.width, scale: 1.8)
            let factors = (0..<(s.batch * 5)).map { i in i % 5 == 4 ? Float(rng.symmetric()) * 3 : Float(exp(Double(rng.symmetric()) * 0.5)) }
            let y = adjust(s, x, factors, range)
            assertClose(y, naivePhotometric(s, x: x, factors: factors, range: range), atol: 1e-5, "photometric \(s)")
            XCTAssertEqual(adjust(s, x, factors, range, threads: 1), y)
            XCTAssertEqual(adjust(s, x, factors, range, threads: 3), y)
        }
    }

    /// The forward pass's q^γ, `laneCount` lanes at a time, against pow in Double over q from 10⁻³⁰
    /// to 1 and γ within ×0.05–×20: within 10⁻⁶ of the value relatively where it is at least
    /// 10⁻⁴, within 10⁻⁹ below (the float γ·log₂ q carries a rounding that grows with it: 5·10⁻⁶
    /// of the value at γ·log₂ q near −100); exactly 0 at q = 0 and 1 at q = 1. And its two
    /// halves on their own, at a few units in the last place.
    /// The lanes' minimum, maximum and clamp give the standard library's bits, lane for lane:
    /// NaN in either place, signed zeros, ties, infinities.
    func test_laneMinimumMaximumClamp_matchTheLibrary() {
        let specials: [Float] = [.nan, -.nan, 0, -0, 1, -1, 0.5, .infinity, -.infinity, .leastNonzeroMagnitude, 2, -3]
        var rng = TestRandom(seed: 17)
        let bits = { (x: FloatLanes) in (0..<laneCount).map { x[$0].bitPattern } }
        for trial in 0..<300 {
            let draw = { () -> FloatLanes in
                FloatLanes((0..<laneCount).map { _ in trial < 200 ? specials[Int(rng.next() % UInt64(specials.count))] : rng.symmetric() * 2 })
            }
            let (a, b, c) = (draw(), draw(), draw())
            let (lower, upper) = (pointwiseMin(b, c), pointwiseMax(b, c))
            XCTAssertEqual(bits(lanesMinimum(a, b)), bits(pointwiseMin(a, b)), "minimum of \(a) and \(b)")
            XCTAssertEqual(bits(lanesMaximum(a, b)), bits(pointwiseMax(a, b)), "maximum of \(a) and \(b)")
            XCTAssertEqual(bits(lanesClamped(a, lower, upper)), bits(a.clamped(lowerBound: lower, upperBound: upper)),
                           "\(a) clamped to \(lower)…\(upper)")
        }
    }

    func test_vectorPower_matchesPow() {
        var rng = TestRandom(seed: 93)
        var worst = 0.0
        for trial in 0..<400 {
            let gamma = Float(exp(Double(rng.symmetric()) * 3))
            var q = FloatLanes((0..<laneCount).map { _ in Float(exp(Double(rng.symmetric() + 1) / 2 * -69)) })
            if trial % 50 == 0 { (q[0], q[1], q[2]) = (0, 1, Float.leastNormalMagnitude) }
            let powered = vectorPower(q, gamma)
            for k in 0..<laneCount {
                let expected = q[k] > 0 ? pow(Double(q[k]), Double(gamma)) : 0
                if expected < 1e-4 {
                    XCTAssertEqual(Double(powered[k]), expected, accuracy: 1e-9, "\(q[k])^\(gamma)")
                    continue
                }
                worst = max(worst, abs(Double(powered[k]) - expected) / expected)
            }
            if trial % 50 == 0 { XCTAssertEqual(powered[0], 0); XCTAssertEqual(powered[1], 1) }
        }
        XCTAssertLessThan(worst, 1e-6, "relative error of q^γ")
        let x = FloatLanes((0..<laneCount).map { Float($0) * 0.37 + 0.01 })
        let y = -x * 9
        for k in 0..<laneCount {
            XCTAssertEqual(Double(vectorLog2(x)[k]), log2(Double(x[k])), accuracy: 3e-7 * max(1, abs(log2(Double(x[k])))))
            XCTAssertEqual(Double(vectorExp2(y)[k]), exp2(Double(y[k])), accuracy: 3e-7 * exp2(Double(y[k])))
        }
    }

    /// Factors of 1 give the image back (values inside the range).
    func test_unitFactors_returnTheImage() {
        let s = PhotometricShape(batch: 2, channels: 3, height: 3, width: 4)
        var rng = TestRandom(seed: 91)
        let x = rng.floats(72)
        let range = PhotometricRange(standardisedWithMean: 0.5, std: 0.2, low: 0, high: 1)
        assertClose(adjust(s, x, [1, 1, 1, 1, 0, 1, 1, 1, 1, 0], range), x, atol: 1e-5, "unit factors")
    }

    /// Gradients into the image and into each factor against central differences, where no
    /// clamp is near (so the function is smooth there).
    func test_gradients_matchFiniteDifferences() {
        var rng = TestRandom(seed: 92)
        for s in [PhotometricShape(batch: 3, channels: 3, height: 4, width: 5), PhotometricShape(batch: 2, channels: 1, height: 6, width: 3)] {
            // Raw values in [0.25, 0.75], standardised; factors within ×0.86–1.16 keep every
            // clamp's argument inside [0, 1]; hue turns within ±0.5 rad (three channels). The hue
            // turn is piecewise linear in a pixel's channels (a kink where the turned hue crosses
            // a sixth of the circle, or two channels swap order), so the step is small: 10⁻²
            // crossed a kink at 11 of 180 inputs, 10⁻³ at 1 (not one of
            // those sampled).
            let range = PhotometricRange(standardisedWithMean: 0.5, std: 0.25, low: 0, high: 1)
            let x = rng.floats(s.batch * s.channels * s.height * s.width)
            let factors = (0..<(s.batch * 5)).map { i in i % 5 == 4 ? rng.symmetric() * 0.5 : Float(exp(Double(rng.symmetric()) * 0.15)) }
            let g = rng.floats(x.count)
            let (dx, df) = gradients(s, x, factors, range, g)
            let numericX = numericGradient(x, indices: sampleIndices(x.count), step: 1e-3) { weightedSum(naivePhotometric(s, x: $0, factors: factors, range: range), g) }
            assertClose(sampleIndices(x.count).map { dx[$0] }, numericX, atol: 2e-3, rtol: 1e-2, "∂input \(s)")
            let numericF = numericGradient(factors, indices: Array(0..<factors.count), step: 1e-3) { weightedSum(naivePhotometric(s, x: x, factors: $0, range: range), g) }
            assertClose(df, numericF, atol: 2e-3, rtol: 1e-2, "∂factors \(s)")
        }
    }
}
