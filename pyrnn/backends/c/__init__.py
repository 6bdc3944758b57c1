"""Backend "c", one place: the cffi backend (:mod:`.backend`) and its compiled module
``_pyrnn_c`` (built here from the C sources in csrc/ by setup.py or ``python setup.py
build_ext --inplace``; where that build failed, ``_c_build_error.txt`` here says why)."""
