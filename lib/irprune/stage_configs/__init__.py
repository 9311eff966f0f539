"""The stage configs defined for the stages whose pipeline module does not define its own, one module per stage
so that a stage imports (and depends on) only the config classes it reads.  Registered in
:data:`irprune.stages.STAGES`."""
