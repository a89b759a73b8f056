"""inspect_ai entry point for k2bench's model providers (pyproject: [project.entry-points.inspect_ai])."""

from inspect_ai.model import modelapi


@modelapi(name="k2bench")
def k2bench():  # noqa: ANN201  (inspect's registry expects the class back)
    from models.embedded import EmbeddedModelAPI

    return EmbeddedModelAPI


import models.endpoint_watch  # noqa: E402, F401  (registers the retry / dropped-protocol-setting hooks)
