"""Rendering sampling requests: a request becomes a plan, plans become encoded images.

* :mod:`.plans`: a request (``GET /sample``, ``POST /sample``, ``GET /interpolate``) becomes a
  :class:`~app.rendering.plans.RenderPlan`, plain data listing its forward passes and the tiles
  they fill;
* :mod:`.execute`: plans are executed (rows drawn, passes merged and run, images encoded);
* :mod:`.renderers` and :mod:`.batcher`: what the routes call, one plan at a time or
  micro-batched across requests (:mod:`.pass_costs`: how many rows a batch may hold).

Everything about seeds, labels, pass sizes and kernels is ``models.inference``'s. The request
path is drawn in docs/architecture.md.
"""
