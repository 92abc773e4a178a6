// prototype
#include <algorithm>
#include <cmath>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/framework/tensor.h"

using namespace tensorflow;

REGISTER_OP("CatganInstanceNorm")
    .Input("x: float")
    .Output("y: float")
    .Output("mean: float")
    .Output("rstd: float")
    .Attr("epsilon: float = 0.00001")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle x;
      TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 4, &x));
      c->set_output(0, x);
      auto stats = c->MakeShape({c->Dim(x, 0), c->Dim(x, 3)});
      c->set_output(1, stats);
      c->set_output(2, stats);
      return absl::OkStatus();
    });

REGISTER_OP("CatganInstanceNormGrad")
    .Input("dy: float")
    .Input("x: float")
    .Input("mean: float")
    .Input("rstd: float")
    .Output("dx: float")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(1));
      return absl::OkStatus();
    });

namespace {

void ForEachImage(OpKernelContext* ctx, int64_t n, int64_t cost, std::function<void(int64_t, int64_t)> fn) {
  auto* workers = ctx->device()->tensorflow_cpu_worker_threads()->workers;
  workers->ParallelFor(n, cost, std::move(fn));
}

class InstanceNormOp : public OpKernel {
 public:
  explicit InstanceNormOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("epsilon", &epsilon_));
  }
  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    OP_REQUIRES(ctx, x.dims() == 4, errors::InvalidArgument("x must be NHWC"));
    const int64_t n = x.dim_size(0), hw = x.dim_size(1) * x.dim_size(2), c = x.dim_size(3);
    Tensor *y, *mean, *rstd;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &y));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({n, c}), &mean));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({n, c}), &rstd));
    const float* xs = x.flat<float>().data();
    float* ys = y->flat<float>().data();
    float* ms = mean->flat<float>().data();
    float* rs = rstd->flat<float>().data();
    const float eps = epsilon_;
    ForEachImage(ctx, n, hw * c * 8, [=](int64_t begin, int64_t end) {
      std::vector<float> acc(c);
      for (int64_t i = begin; i < end; ++i) {
        const float* xi = xs + i * hw * c;
        float* yi = ys + i * hw * c;
        float* m = ms + i * c;
        float* r = rs + i * c;
        std::fill(acc.begin(), acc.end(), 0.f);
        for (int64_t p = 0; p < hw; ++p) {
          const float* row = xi + p * c;
          for (int64_t k = 0; k < c; ++k) acc[k] += row[k];
        }
        for (int64_t k = 0; k < c; ++k) m[k] = acc[k] / hw;
        std::fill(acc.begin(), acc.end(), 0.f);
        for (int64_t p = 0; p < hw; ++p) {
          const float* row = xi + p * c;
          for (int64_t k = 0; k < c; ++k) {
            const float d = row[k] - m[k];
            acc[k] += d * d;
          }
        }
        for (int64_t k = 0; k < c; ++k) r[k] = 1.f / std::sqrt(acc[k] / hw + eps);
        for (int64_t p = 0; p < hw; ++p) {
          const float* row = xi + p * c;
          float* out = yi + p * c;
          for (int64_t k = 0; k < c; ++k) out[k] = (row[k] - m[k]) * r[k];
        }
      }
    });
  }

 private:
  float epsilon_;
};

class InstanceNormGradOp : public OpKernel {
 public:
  explicit InstanceNormGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}
  void Compute(OpKernelContext* ctx) override {
    const Tensor& dy = ctx->input(0);
    const Tensor& x = ctx->input(1);
    const int64_t n = x.dim_size(0), hw = x.dim_size(1) * x.dim_size(2), c = x.dim_size(3);
    Tensor* dx;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &dx));
    const float* dys = dy.flat<float>().data();
    const float* xs = x.flat<float>().data();
    const float* ms = ctx->input(2).flat<float>().data();
    const float* rs = ctx->input(3).flat<float>().data();
    float* dxs = dx->flat<float>().data();
    ForEachImage(ctx, n, hw * c * 10, [=](int64_t begin, int64_t end) {
      std::vector<float> sdy(c), sdyx(c);
      for (int64_t i = begin; i < end; ++i) {
        const float* xi = xs + i * hw * c;
        const float* gi = dys + i * hw * c;
        float* oi = dxs + i * hw * c;
        const float* m = ms + i * c;
        const float* r = rs + i * c;
        std::fill(sdy.begin(), sdy.end(), 0.f);
        std::fill(sdyx.begin(), sdyx.end(), 0.f);
        for (int64_t p = 0; p < hw; ++p) {
          const float* row = xi + p * c;
          const float* g = gi + p * c;
          for (int64_t k = 0; k < c; ++k) {
            sdy[k] += g[k];
            sdyx[k] += g[k] * (row[k] - m[k]) * r[k];
          }
        }
        for (int64_t k = 0; k < c; ++k) {
          sdy[k] /= hw;
          sdyx[k] /= hw;
        }
        for (int64_t p = 0; p < hw; ++p) {
          const float* row = xi + p * c;
          const float* g = gi + p * c;
          float* out = oi + p * c;
          for (int64_t k = 0; k < c; ++k) {
            const float xhat = (row[k] - m[k]) * r[k];
            out[k] = r[k] * (g[k] - sdy[k] - xhat * sdyx[k]);
          }
        }
      }
    });
  }
};

REGISTER_KERNEL_BUILDER(Name("CatganInstanceNorm").Device(DEVICE_CPU), InstanceNormOp);
REGISTER_KERNEL_BUILDER(Name("CatganInstanceNormGrad").Device(DEVICE_CPU), InstanceNormGradOp);

}  // namespace

// A Node-API module with no exports: loading it through require() registers the ops above.
extern "C" __attribute__((visibility("default"))) void* napi_register_module_v1(void*, void* exports) {
  return exports;
}
extern "C" __attribute__((visibility("default"))) int node_api_module_get_api_version_v1() { return 8; }
