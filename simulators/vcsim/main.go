// Command vcsim starts govmomi's vCenter simulator (the VPX model) for RXT Deploy's tests and demo.
//
// The inventory is govmomi's default VPX model (datacenter DC0, cluster DC0_C0 with three hosts,
// datastore LocalDS_0, the network "VM Network") plus one VM template, cloned from a model VM and
// marked as a template, that clones come from. The vAPI REST endpoints (tagging) are registered.
// When the server answers, one line "vcsim ready <url>" goes to standard output; the process
// then runs until it receives SIGINT or SIGTERM. It is built by simulators/vcsim/launcher.py.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	_ "github.com/vmware/govmomi/vapi/simulator" // registers the /rest tagging endpoints
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (port 0 picks a free one)")
	username := flag.String("username", "user", "the only user name the simulator accepts")
	password := flag.String("password", "pass", "the only password the simulator accepts")
	template := flag.String("template", "ubuntu-2404-docker", "name of the VM template to create")
	flag.Parse()

	if err := run(*listen, *username, *password, *template); err != nil {
		fmt.Fprintf(os.Stderr, "vcsim: %v\n", err)
		os.Exit(1)
	}
}

func run(listen, username, password, template string) error {
	model := simulator.VPX()
	defer model.Remove()
	if err := model.Create(); err != nil {
		return fmt.Errorf("creating the inventory: %w", err)
	}
	model.Service.RegisterEndpoints = true
	model.Service.Listen = &url.URL{Host: listen, User: url.UserPassword(username, password)}
	server := model.Service.NewServer()
	defer server.Close()

	if err := addTemplate(server.URL, template); err != nil {
		return fmt.Errorf("creating template %q: %w", template, err)
	}

	address := *server.URL
	address.User = nil
	fmt.Printf("vcsim ready %s\n", address.String())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	return nil
}

// addTemplate clones the first model VM of the cluster into a template, through the SOAP API
// like any client would, so the template looks exactly like one made on vCenter.
func addTemplate(endpoint *url.URL, name string) error {
	ctx := context.Background()
	client, err := govmomi.NewClient(ctx, endpoint, true)
	if err != nil {
		return err
	}
	defer func() { _ = client.Logout(ctx) }()

	finder := find.NewFinder(client.Client, false)
	dc, err := finder.Datacenter(ctx, "DC0")
	if err != nil {
		return err
	}
	finder.SetDatacenter(dc)
	source, err := finder.VirtualMachine(ctx, "DC0_C0_RP0_VM0")
	if err != nil {
		return err
	}
	pool, err := source.ResourcePool(ctx)
	if err != nil {
		return err
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	return cloneAsTemplate(ctx, source, folders.VmFolder, pool, name)
}

func cloneAsTemplate(
	ctx context.Context, source *object.VirtualMachine, folder *object.Folder,
	pool *object.ResourcePool, name string,
) error {
	poolRef := pool.Reference()
	spec := types.VirtualMachineCloneSpec{
		Location: types.VirtualMachineRelocateSpec{Pool: &poolRef},
		Template: true,
	}
	task, err := source.Clone(ctx, folder, name, spec)
	if err != nil {
		return err
	}
	return task.Wait(ctx)
}
