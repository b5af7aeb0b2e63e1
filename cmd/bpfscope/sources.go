package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
)

// sourceDir re-roots the source paths an object recorded at build time, as
// a debugger's substitute-path does: a path names the machine and the
// directory the object was built in, the sources may be anywhere now.
type sourceDir struct {
	dir      string // --source-dir, or a default
	explicit bool   // given by the user: prefer it over paths that exist
	seen     map[string]string
}

func (s *sourceDir) register(fs *flag.FlagSet) {
	fs.Func("source-dir", "find the C sources under `DIR`: each recorded path, or its longest tail that exists there (default: the object's directory, or examples/progs for the bundled example, where the sources exist)", func(v string) error {
		s.dir, s.explicit = v, true
		return nil
	})
}

// defaultFor sets the directory to look in when none was given: the
// object's, or examples/progs for the bundled example (run from the
// repository's root).
func (s *sourceDir) defaultFor(p *program) {
	if s.dir != "" {
		return
	}
	s.dir = filepath.Dir(p.objPath)
	if p.bundled {
		s.dir = filepath.Join("examples", "progs")
	}
}

// resolve returns where file, as the object records it, is found: DIR
// joined with the longest tail of file that exists under DIR; else file
// itself if it exists (system headers); else, for a --source-dir, DIR
// joined with its base name, and otherwise file as recorded.
func (s *sourceDir) resolve(file string) string {
	if p, ok := s.seen[file]; ok {
		return p
	}
	if s.seen == nil {
		s.seen = map[string]string{}
	}
	p := s.find(file)
	s.seen[file] = p
	return p
}

func (s *sourceDir) find(file string) string {
	if s.dir != "" {
		parts := strings.Split(filepath.ToSlash(filepath.Clean(file)), "/")
		for i := range parts {
			tail := filepath.Join(parts[i:]...)
			if tail == "" || tail == "." {
				continue
			}
			p := filepath.Join(s.dir, tail)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p
			}
		}
	}
	if filepath.IsAbs(file) {
		if _, err := os.Stat(file); err == nil {
			return file
		}
	}
	if s.explicit {
		return filepath.Join(s.dir, filepath.Base(file))
	}
	return file
}
