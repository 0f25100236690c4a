# 05-selectors: POSIX AIO lived in librt before glibc 2.34 (now in libc;
# -lrt is then an empty stub, harmless).
05-selectors/aio: LDLIBS += -lrt
