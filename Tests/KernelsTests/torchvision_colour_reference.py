# Reference values for PhotometricAdjustTests.test_torchvisionReference_saturationAndHue:
# torchvision's own functional adjustments (its _functional_tensor module, loaded by path so that
# torchvision's compiled operators need not match the installed PyTorch) in double, and PyTorch's
# gradient into the image. Run with PyTorch and torchvision installed:
#   python Tests/KernelsTests/torchvision_colour_reference.py [path of _functional_tensor.py]
import importlib.util, math, sys, torch
path = sys.argv[1] if len(sys.argv) > 1 else importlib.util.find_spec("torchvision").submodule_search_locations[0] + "/transforms/_functional_tensor.py"
spec = importlib.util.spec_from_file_location("ft", path)
F = importlib.util.module_from_spec(spec); spec.loader.exec_module(F)
torch.set_default_dtype(torch.float64)
count = 60
x = torch.tensor([((i * 37) % 23) / 22 for i in range(count)]).reshape(3, 4, 5)
w = torch.tensor([((i * 11) % 7 - 3) / 3 for i in range(count)]).reshape(3, 4, 5)
def fmt(v): return "[" + ", ".join("%.7g" % float(a) for a in v.flatten()) + "]"
for (b, k, g, s, eta) in [(1.1, 0.9, 1.3, 1.4, 0.7), (0.9, 1.2, 0.8, 0.6, -2.5)]:
    xx = x.clone().requires_grad_(True)
    y = F.adjust_brightness(xx, b); y = F.adjust_contrast(y, k); y = F.adjust_saturation(y, s)
    y = F.adjust_hue(y, eta / (2 * math.pi)); y = F.adjust_gamma(y, g)
    (y * w).sum().backward()
    print("factors", [b, k, g, s, eta]); print("y", fmt(y.detach())); print("dx", fmt(xx.grad))
